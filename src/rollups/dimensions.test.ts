import { describe, expect, it } from 'vitest';
import type { Dimensions } from '../dimensions/derive.js';
import type { CanonicalEvent } from '../events/event.js';
import { PROP_LIMITS, propPairs } from './dimensions.js';
import { computeRollups } from './rollup.js';

const NOW = Date.parse('2026-12-02T10:30:00Z');
const ev = (over: Partial<CanonicalEvent>): CanonicalEvent => ({
  event_id: Math.random().toString(36),
  type: 'page_view',
  ts: NOW - 1000,
  received_at: NOW,
  site_id: 's',
  path: '/',
  user_id: 'u1',
  ...over,
});
const dims = (over: Partial<Dimensions> = {}): Dimensions => ({
  bot: false,
  source: '(direct)',
  browser: 'Chrome',
  os: 'Windows',
  device: 'desktop',
  country: 'US',
  ...over,
});
const rows = (m: Map<string, unknown[]> | undefined) => [...(m?.values() ?? [])];

describe('dimension rollups', () => {
  it('counts views, events and one visitor profile per user and day', () => {
    const r = computeRollups([ev({}), ev({ type: 'signup' }), ev({ user_id: 'u2' })], {
      dims: [dims(), dims(), dims({ browser: 'Firefox', source: undefined, utm_campaign: 'x' })],
      now: NOW,
    });
    expect(rows(r.deltas.get('siteDims'))).toEqual(
      expect.arrayContaining([
        ['s', '2026-12-02', 'browser', 'Chrome', 1, 2],
        ['s', '2026-12-02', 'browser', 'Firefox', 1, 1],
        ['s', '2026-12-02', 'source', '(direct)', 1, 1],
        ['s', '2026-12-02', 'utm_campaign', 'x', 1, 1],
        ['s', '2026-12-02', 'country', 'US', 2, 3],
      ]),
    );
    expect(rows(r.sets.get('profiles'))).toEqual([
      ['s', '2026-12-02', 'u:u1', 'Chrome', 'Windows', 'desktop', 'US'],
      ['s', '2026-12-02', 'u:u2', 'Firefox', 'Windows', 'desktop', 'US'],
    ]);
    expect(rows(r.sets.get('dimUsers'))).toEqual([
      ['s', '2026-12-02', 'source', '(direct)', 'u:u1'],
      ['s', '2026-12-02', 'utm_campaign', 'x', 'u:u2'],
    ]);
  });

  it('leaves bots out of every rollup unless they are counted', () => {
    const events = [ev({}), ev({ path: '/b' })];
    const d = [dims(), dims({ bot: true })];
    const dropped = computeRollups(events, { dims: d, now: NOW });
    expect(dropped.bots).toBe(1);
    expect(rows(dropped.deltas.get('siteDaily'))).toEqual([['s', '2026-12-02', 1, 1]]);
    expect(rows(dropped.deltas.get('siteBots'))).toEqual([['s', '2026-12-02', 1]]);
    expect(rows(dropped.deltas.get('sitePaths'))).toEqual([['s', '2026-12-02', '/', 1]]);
    const counted = computeRollups(events, { dims: d, now: NOW, bots: 'count' });
    expect(counted.bots).toBe(0);
    expect(rows(counted.deltas.get('siteDaily'))).toEqual([['s', '2026-12-02', 2, 2]]);
  });

  it('writes minute buckets for the last hour only', () => {
    const r = computeRollups([ev({}), ev({ ts: NOW - 2 * 3_600_000, user_id: 'old' })], {
      dims: [dims(), dims()],
      now: NOW,
    });
    expect(rows(r.deltas.get('siteMinute'))).toEqual([['s', '2026-12-02T10:29:00.000Z', 1, 1]]);
    expect(rows(r.sets.get('minuteUsers'))).toEqual([['s', '2026-12-02T10:29:00.000Z', 'u:u1']]);
  });

  it('bounds the properties rolled up per event', () => {
    const props = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`k${String(i).padStart(2, '0')}`, 'v'.repeat(500)]),
    );
    const pairs = propPairs({ ...props, a: null, b: 3, c: true });
    expect(pairs).toHaveLength(PROP_LIMITS.keysPerEvent);
    expect(pairs.slice(0, 2)).toEqual([
      ['b', '3'],
      ['c', 'true'],
    ]);
    expect(pairs[2]![1]).toHaveLength(PROP_LIMITS.valueChars);
  });
});
