import { describe, expect, it } from 'vitest';
import { compareIds } from './redis-stream-guard.js';

describe('compareIds', () => {
  it('orders stream ids by time, then sequence, as numbers', () => {
    expect(compareIds('1700000000000-0', '1700000000000-0')).toBe(0);
    expect(compareIds('999-5', '1000-0')).toBe(-1);
    expect(compareIds('1000-10', '1000-9')).toBe(1);
    expect(compareIds('0-0', '1-0')).toBe(-1);
  });
});
