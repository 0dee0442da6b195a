import { describe, expect, it } from 'vitest';
import { Backoff, sleep } from './retry.js';

describe('Backoff', () => {
  it('draws each wait from [0, cap], the cap doubling to the maximum, and starts over after reset', () => {
    const top = new Backoff(100, 1000, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(() => top.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    top.reset();
    expect(top.next()).toBe(100);
    const half = new Backoff(100, 1000, () => 0.5);
    expect([half.next(), half.next(), half.next()]).toEqual([50, 100, 200]);
    expect(new Backoff(100, 1000, () => 0).next()).toBe(0);
  });

  it('spreads the waits of workers that failed together (full jitter)', () => {
    const waits = Array.from({ length: 50 }, () => new Backoff(1000, 5000).next());
    expect(new Set(waits).size).toBeGreaterThan(40);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...waits)).toBeLessThanOrEqual(1000);
  });

  it('a wait ends early when its signal aborts', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const waiting = new Backoff(60_000, 60_000, () => 1).wait(ac.signal);
    ac.abort();
    expect(await waiting).toBe(60_000);
    expect(Date.now() - started).toBeLessThan(1000);
    await sleep(10, ac.signal);
  });
});
