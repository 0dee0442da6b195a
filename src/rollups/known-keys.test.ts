/** The bounded set the aggregator uses to skip unique-user rows that are already stored. */
import { describe, expect, it } from 'vitest';
import { KnownKeys } from './known-keys.js';

describe('KnownKeys', () => {
  it('remembers keys and stays within two generations', () => {
    const k = new KnownKeys(3);
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
      k.add(key);
    }
    expect(k.size).toBeLessThanOrEqual(6);
    expect(k.has('g')).toBe(true);
    expect(k.has('a')).toBe(false);
    expect(k.has('never')).toBe(false);
  });

  it('keeps a key that is still used when its generation ages out', () => {
    const k = new KnownKeys(2);
    k.add('hot');
    k.add('x');
    k.add('y'); // 'hot' and 'x' are now the old generation
    expect(k.has('hot')).toBe(true); // seen again: copied into the young one
    k.add('z');
    k.add('w'); // the old generation, with 'x', is dropped
    expect(k.has('hot')).toBe(true);
    expect(k.has('x')).toBe(false);
  });
});
