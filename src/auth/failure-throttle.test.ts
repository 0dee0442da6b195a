import { describe, expect, it } from 'vitest';
import { FailureThrottle } from './failure-throttle.js';

describe('FailureThrottle', () => {
  it('refuses an address past its failures until the minute ends, and counts refusals', () => {
    const t = new FailureThrottle(3);
    const t0 = 60_000 * 1000 + 15_000;
    for (let i = 0; i < 3; i++) {
      expect(t.blockedFor('1.2.3.4', t0)).toBe(0);
      t.fail('1.2.3.4', t0);
    }
    expect(t.blockedFor('1.2.3.4', t0)).toBe(45);
    expect(t.blockedFor('1.2.3.4', t0 + 44_500)).toBe(1);
    expect(t.blockedFor('5.6.7.8', t0)).toBe(0);
    expect(t.throttled).toBe(2);
    expect(t.blockedFor('1.2.3.4', t0 + 45_000)).toBe(0);
  });

  it('forgets the oldest addresses past its bound', () => {
    const t = new FailureThrottle(1, 60_000, 2);
    t.fail('a', 0);
    t.fail('b', 0);
    t.fail('c', 0);
    expect(t.blockedFor('a', 0)).toBe(0);
    expect(t.blockedFor('b', 0)).toBeGreaterThan(0);
    expect(t.blockedFor('c', 0)).toBeGreaterThan(0);
  });
});
