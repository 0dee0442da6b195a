import { describe, expect, it } from 'vitest';
import { bearerToken, generateKey, hashToken, keyId, tokenMatches } from './keys.js';

describe('API keys', () => {
  it('makes keys that carry their id and match only their own hash', () => {
    const a = generateKey();
    const b = generateKey();
    expect(a.token).toMatch(/^tally_[0-9a-z]{10}_[A-Za-z0-9_-]{43}$/);
    expect(keyId(a.token)).toBe(a.id);
    expect(a.id).not.toBe(b.id);
    expect(tokenMatches(a.token, a.secretHash)).toBe(true);
    expect(tokenMatches(b.token, a.secretHash)).toBe(false);
    expect(tokenMatches(`${a.token}x`, a.secretHash)).toBe(false);
    expect(hashToken(a.token).equals(a.secretHash)).toBe(true);
  });

  it('reads no id out of anything but a well-formed key', () => {
    const { token } = generateKey();
    for (const bad of [
      '',
      'tally_',
      token.slice(0, -1),
      `${token}=`,
      token.toUpperCase(),
      'x'.repeat(60),
    ]) {
      expect(keyId(bad)).toBeUndefined();
    }
  });

  it('takes the token of a Bearer header and calls anything else malformed', () => {
    const none = { kind: 'none' };
    const malformed = { kind: 'malformed' };
    expect(bearerToken(undefined)).toEqual(none);
    expect(bearerToken('')).toEqual(none);
    expect(bearerToken('Bearer abc')).toEqual({ kind: 'bearer', token: 'abc' });
    expect(bearerToken('bearer  abc ')).toEqual({ kind: 'bearer', token: 'abc' });
    expect(bearerToken('Basic dXNlcjpwYXNz')).toEqual(malformed);
    expect(bearerToken('Bearer')).toEqual(malformed);
    expect(bearerToken('Bearer a b')).toEqual(malformed);
    expect(bearerToken(`Bearer ${'a'.repeat(300)}`)).toEqual(malformed);
  });
});
