import { describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../events/event.js';
import { adCountDeltas, computeRollups } from './rollup.js';

const at = (iso: string) => Date.parse(iso);
const ev = (e: Partial<CanonicalEvent> & { type: string; ts: number }): CanonicalEvent => ({
  event_id: Math.random().toString(36),
  received_at: e.ts,
  ...e,
});

const rows = (m: Map<string, (string | number)[]> | undefined) => [...(m?.values() ?? [])];

describe('computeRollups', () => {
  it('sums a site’s events per UTC day, hour, type and path, with each path’s first time and each day’s users', () => {
    const { deltas, users } = computeRollups([
      ev({
        type: 'page_view',
        site_id: 's',
        path: '/a',
        user_id: 'u1',
        ts: at('2024-02-04T23:59:00Z'),
      }),
      ev({
        type: 'page_view',
        site_id: 's',
        path: '/a',
        user_id: 'u1',
        ts: at('2024-02-04T23:10:00Z'),
      }),
      ev({
        type: 'signup',
        site_id: 's',
        path: '/a',
        visitor_id: 'v9',
        ts: at('2024-02-04T22:00:00Z'),
      }),
      // Past midnight (UTC): the next day, whatever the order in the batch.
      ev({ type: 'page_view', site_id: 's', path: '/b', vh: 'h1', ts: at('2024-02-05T00:00:00Z') }),
    ]);
    expect(rows(deltas.get('siteDaily'))).toEqual([
      ['s', '2024-02-04', 2, 3],
      ['s', '2024-02-05', 1, 1],
    ]);
    expect(rows(deltas.get('siteTypes'))).toEqual([
      ['s', '2024-02-04', 'page_view', 2],
      ['s', '2024-02-04', 'signup', 1],
      ['s', '2024-02-05', 'page_view', 1],
    ]);
    expect(rows(deltas.get('siteHourly'))).toEqual([
      ['s', '2024-02-04T23:00:00.000Z', 2, 2],
      ['s', '2024-02-04T22:00:00.000Z', 0, 1],
      ['s', '2024-02-05T00:00:00.000Z', 1, 1],
    ]);
    expect(rows(deltas.get('sitePaths'))).toEqual([
      ['s', '2024-02-04', '/a', 2],
      ['s', '2024-02-05', '/b', 1],
    ]);
    expect(rows(deltas.get('siteTypePaths'))).toEqual([
      ['s', '2024-02-04', 'page_view', '/a', 2, at('2024-02-04T23:10:00Z')],
      ['s', '2024-02-04', 'signup', '/a', 1, at('2024-02-04T22:00:00Z')],
      ['s', '2024-02-05', 'page_view', '/b', 1, at('2024-02-05T00:00:00Z')],
    ]);
    expect([...users.values()]).toEqual([
      ['s', '2024-02-04', 'u:u1'],
      ['s', '2024-02-04', 'v:v9'],
      ['s', '2024-02-05', 'h:h1'],
    ]);
    expect(deltas.has('ad_minute')).toBe(false);
  });

  it('counts impressions and clicks per ad (its five dimensions, absent ones empty) per minute, hour and day', () => {
    const { deltas } = computeRollups([
      ev({ type: 'impression', ad_id: 'a', campaign_id: 'c', ts: at('2026-02-01T12:34:56Z') }),
      ev({ type: 'click', ad_id: 'a', campaign_id: 'c', ts: at('2026-02-01T12:34:59Z') }),
      ev({ type: 'impression', ad_unit_id: 'u', ts: at('2026-02-01T12:35:00Z') }),
      // Not an ad event: a site's custom click.
      ev({ type: 'site_click', site_id: 's', ts: at('2026-02-01T12:35:00Z') }),
    ]);
    expect(rows(deltas.get('ad_minute'))).toEqual([
      ['2026-02-01T12:34:00.000Z', 'a', '', 'c', '', '', 1, 1],
      ['2026-02-01T12:35:00.000Z', '', 'u', '', '', '', 1, 0],
    ]);
    expect(rows(deltas.get('ad_hourly'))).toEqual([
      ['2026-02-01T12:00:00.000Z', 'a', '', 'c', '', '', 1, 1],
      ['2026-02-01T12:00:00.000Z', '', 'u', '', '', '', 1, 0],
    ]);
    expect(rows(deltas.get('ad_daily'))).toEqual([
      ['2026-02-01T00:00:00.000Z', 'a', '', 'c', '', '', 1, 1],
      ['2026-02-01T00:00:00.000Z', '', 'u', '', '', '', 1, 0],
    ]);
  });
});

describe('adCountDeltas', () => {
  it('adds per-minute counts into the minute, hour and day of each ad', () => {
    const dims = { ad_id: '7', ad_unit_id: '', campaign_id: '', creative_id: '', account_id: '' };
    const deltas = adCountDeltas([
      { minuteMs: at('2025-06-15T10:00:00Z'), dims, impressions: 3, clicks: 1 },
      { minuteMs: at('2025-06-15T10:59:00Z'), dims, impressions: 4, clicks: 0 },
    ]);
    expect(rows(deltas.get('ad_minute'))).toEqual([
      ['2025-06-15T10:00:00.000Z', '7', '', '', '', '', 3, 1],
      ['2025-06-15T10:59:00.000Z', '7', '', '', '', '', 4, 0],
    ]);
    expect(rows(deltas.get('ad_hourly'))).toEqual([
      ['2025-06-15T10:00:00.000Z', '7', '', '', '', '', 7, 1],
    ]);
    expect(rows(deltas.get('ad_daily'))).toEqual([
      ['2025-06-15T00:00:00.000Z', '7', '', '', '', '', 7, 1],
    ]);
  });
});
