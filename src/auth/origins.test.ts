import { describe, expect, it } from 'vitest';
import { compileOrigins, originAllowed, originEntryError, refererOrigin } from './origins.js';

describe('allowed origins', () => {
  const rules = compileOrigins([
    'https://shop.example.com',
    'example.org',
    '*.example.net',
    'https://*.secure.example',
    'http://localhost:3000',
  ]);
  const allowed = (o: string) => originAllowed(rules, o);

  it('matches exact origins by scheme, host and port', () => {
    expect(allowed('https://shop.example.com')).toBe(true);
    expect(allowed('HTTPS://Shop.Example.com')).toBe(true);
    expect(allowed('http://shop.example.com')).toBe(false);
    expect(allowed('https://shop.example.com:8443')).toBe(false);
    expect(allowed('http://localhost:3000')).toBe(true);
    expect(allowed('http://localhost:3001')).toBe(false);
  });

  it('matches a bare host with any scheme, and nothing else', () => {
    expect(allowed('https://example.org')).toBe(true);
    expect(allowed('http://example.org')).toBe(true);
    expect(allowed('https://www.example.org')).toBe(false);
    expect(allowed('https://example.org.evil.com')).toBe(false);
    expect(allowed('https://evilexample.org')).toBe(false);
  });

  it('matches wildcards for subdomains only', () => {
    expect(allowed('https://a.example.net')).toBe(true);
    expect(allowed('http://a.b.example.net')).toBe(true);
    expect(allowed('https://example.net')).toBe(false);
    expect(allowed('https://evilexample.net')).toBe(false);
    expect(allowed('https://x.secure.example')).toBe(true);
    expect(allowed('http://x.secure.example')).toBe(false);
  });

  it('refuses the null origin unless it is listed, and takes anything with no entries', () => {
    expect(allowed('null')).toBe(false);
    expect(originAllowed(compileOrigins(['null']), 'null')).toBe(true);
    expect(originAllowed(compileOrigins([]), 'https://anything.example')).toBe(true);
    expect(allowed('')).toBe(false);
    expect(allowed('garbage')).toBe(false);
  });

  it('says why an entry is not an origin', () => {
    for (const good of ['https://a.com', 'a.com', '*.a.com', 'http://localhost:8080', 'null']) {
      expect(originEntryError(good)).toBeUndefined();
    }
    for (const bad of ['https://a.com/path', 'a.com/x', 'ftp://a.com', '*', 'a..com', '']) {
      expect(originEntryError(bad)).toMatch(/must be/);
    }
  });

  it('takes the origin of a Referer', () => {
    expect(refererOrigin('https://example.com/page?x=1#y')).toBe('https://example.com');
    expect(refererOrigin('http://localhost:3000')).toBe('http://localhost:3000');
    expect(refererOrigin('not a url')).toBeUndefined();
  });
});
