/** Pure: the fixed-window counters both limiters decide with. */
import { describe, expect, it } from 'vitest';
import { WindowCounters } from './window-counters.js';
import { siteIdsOf, eventCount } from './site-ids.js';

const T0 = 1_700_000_000_000; // a multiple of 1000: window boundaries at T0 + k * 1000

describe('WindowCounters', () => {
  it('admits max points per window, then refuses without counting the refusal', () => {
    const c = new WindowCounters({ windowMs: 1000, max: 3, maxKeys: 10, shared: false });
    const got = [0, 1, 2, 3, 4].map((i) => c.consume('k', 1, T0 + 100 + i));
    expect(got.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
      [false, 0],
    ]);
    expect(got[3]).toEqual({ allowed: false, limit: 3, remaining: 0, resetMs: 897 });
    expect(c.consume('other', 1, T0 + 200).allowed).toBe(true);
  });

  it('restarts at the next window', () => {
    const c = new WindowCounters({ windowMs: 1000, max: 1, maxKeys: 10, shared: false });
    expect(c.consume('k', 1, T0 + 999).allowed).toBe(true);
    expect(c.consume('k', 1, T0 + 999).allowed).toBe(false);
    expect(c.consume('k', 1, T0 + 1000)).toEqual({
      allowed: true,
      limit: 1,
      remaining: 0,
      resetMs: 1000,
    });
  });

  it('counts points and refuses a request that would pass the limit', () => {
    const c = new WindowCounters({ windowMs: 1000, max: 5, maxKeys: 10, shared: false });
    expect(c.consume('k', 4, T0).remaining).toBe(1);
    expect(c.consume('k', 2, T0)).toMatchObject({ allowed: false, remaining: 1 });
    expect(c.consume('k', 1, T0)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('decides on the global count plus local unsent hits (shared mode)', () => {
    const c = new WindowCounters({ windowMs: 1000, max: 5, maxKeys: 10, shared: true });
    c.consume('k', 1, T0);
    const [e] = c.takeDirty();
    expect(e).toMatchObject({ key: 'k', pending: 1 });
    e!.global = 4; // the sync learnt that other instances used 3
    e!.pending = 0;
    expect(c.consume('k', 1, T0)).toMatchObject({ allowed: true, remaining: 0 });
    expect(c.consume('k', 1, T0).allowed).toBe(false);
    expect(c.takeDirty()).toHaveLength(1);
  });

  it('forgets past windows and bounds the number of keys', () => {
    const c = new WindowCounters({ windowMs: 1000, max: 1, maxKeys: 10, shared: false });
    for (let i = 0; i < 5; i++) {
      c.consume(`old${i}`, 1, T0);
    }
    c.sweep(T0 + 1000);
    expect(c.size).toBe(0);
    for (let i = 0; i < 25; i++) {
      c.consume(`k${i}`, 1, T0 + 1000);
    }
    expect(c.size).toBeLessThanOrEqual(10);
    expect(c.consume('k24', 1, T0 + 1000).allowed).toBe(false);
  });
});

describe('siteIdsOf', () => {
  it('reads the distinct site ids of every body shape', () => {
    const e = (site_id?: unknown) => ({ type: 'page_view', site_id });
    expect([...siteIdsOf(e('a'))]).toEqual(['a']);
    expect([...siteIdsOf([e('a'), e('b'), e('a'), e(), e(7)])]).toEqual(['a', 'b']);
    expect([...siteIdsOf({ events: [e('c'), e('c')] })]).toEqual(['c']);
    expect([...siteIdsOf('junk')]).toEqual([]);
    expect(eventCount({ events: [e('c'), e('c')] })).toBe(2);
  });
});

describe('WindowCounters in shared mode', () => {
  it('drops unsent hits of past windows when sweeping (a long Redis outage holds no memory)', () => {
    const c = new WindowCounters({ windowMs: 1000, max: 5, maxKeys: 10, shared: true });
    c.consume('a', 1, T0);
    c.consume('b', 1, T0);
    c.sweep(T0 + 1000);
    expect(c.dirty).toEqual([]);
    c.consume('a', 1, T0 + 1000);
    expect(c.takeDirty().map((e) => [e.key, e.pending])).toEqual([['a', 1]]);
  });
});
