import { AD_DIMENSIONS, type CanonicalEvent } from '../events/event.js';
import { dayOf, hourOf, minuteOf } from '../events/time.js';

/** A counter row: key columns then counter columns, in table column order. */
export type Row = (string | number)[];

export interface CounterTable {
  table: string;
  keys: { name: string; type: 'text' | 'date' | 'timestamptz' }[];
  counters: string[];
  /** Columns after the counters that keep the smallest value instead of a sum (first seen). */
  minima?: string[];
}

export const TABLES = {
  siteDaily: {
    table: 'site_daily',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'day', type: 'date' },
    ],
    counters: ['views', 'events'],
  },
  siteTypes: {
    table: 'site_daily_types',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'day', type: 'date' },
      { name: 'type', type: 'text' },
    ],
    counters: ['events'],
  },
  sitePaths: {
    table: 'site_daily_paths',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'day', type: 'date' },
      { name: 'path', type: 'text' },
    ],
    counters: ['views'],
  },
  siteTypePaths: {
    table: 'site_daily_type_paths',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'day', type: 'date' },
      { name: 'type', type: 'text' },
      { name: 'path', type: 'text' },
    ],
    counters: ['events'],
    minima: ['first_ms'],
  },
  siteHourly: {
    table: 'site_hourly',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'hour', type: 'timestamptz' },
    ],
    counters: ['views', 'events'],
  },
  ...Object.fromEntries(
    (['ad_minute', 'ad_hourly', 'ad_daily'] as const).map((table) => [
      table,
      {
        table,
        keys: [
          { name: 'bucket', type: 'timestamptz' },
          ...AD_DIMENSIONS.map((name) => ({
            name,
            type: 'text',
          })),
        ],
        counters: ['impressions', 'clicks'],
      },
    ]),
  ),
} as Record<string, CounterTable>;

/** Rollup deltas of a set of (already deduplicated) events, per table, keyed for merging. */
export type Deltas = Map<string, Map<string, Row>>;

export interface RollupResult {
  deltas: Deltas;
  /** [site_id, day, user_key] rows for exact unique users. */
  users: Map<string, [string, string, string]>;
}

function add(
  deltas: Deltas,
  table: string,
  key: Row,
  counters: number[],
  minima: number[] = [],
): void {
  let m = deltas.get(table);
  if (!m) {
    m = new Map();
    deltas.set(table, m);
  }
  const k = key.join('\u0001');
  const row = m.get(k);
  if (row) {
    for (let i = 0; i < counters.length; i++) {
      (row[key.length + i] as number) += counters[i]!;
    }
    for (let i = 0, j = key.length + counters.length; i < minima.length; i++, j++) {
      row[j] = Math.min(row[j] as number, minima[i]!);
    }
  } else {
    m.set(k, [...key, ...counters, ...minima]);
  }
}

export function userKey(e: CanonicalEvent): string | undefined {
  if (e.user_id !== undefined) {
    return `u:${e.user_id}`;
  }
  if (e.visitor_id !== undefined) {
    return `v:${e.visitor_id}`;
  }
  return e.vh === undefined ? undefined : `h:${e.vh}`;
}

/** Pure: what a set of new events adds to every rollup. Buckets are UTC. */
export function computeRollups(events: CanonicalEvent[]): RollupResult {
  const deltas: Deltas = new Map();
  const users = new Map<string, [string, string, string]>();
  for (const e of events) {
    const isView = e.type === 'page_view' ? 1 : 0;
    if (e.site_id !== undefined) {
      const day = dayOf(e.ts);
      add(deltas, 'siteDaily', [e.site_id, day], [isView, 1]);
      add(deltas, 'siteTypes', [e.site_id, day, e.type], [1]);
      add(deltas, 'siteHourly', [e.site_id, hourOf(e.ts)], [isView, 1]);
      if (isView && e.path !== undefined) {
        add(deltas, 'sitePaths', [e.site_id, day, e.path], [1]);
      }
      if (e.path !== undefined) {
        add(deltas, 'siteTypePaths', [e.site_id, day, e.type, e.path], [1], [e.ts]);
      }
      const user = userKey(e);
      if (user !== undefined) {
        users.set(`${e.site_id}\u0001${day}\u0001${user}`, [e.site_id, day, user]);
      }
    }
    if (
      (e.type === 'impression' || e.type === 'click') &&
      (e.ad_id !== undefined || e.ad_unit_id !== undefined)
    ) {
      const dims = [
        e.ad_id ?? '',
        e.ad_unit_id ?? '',
        e.campaign_id ?? '',
        e.creative_id ?? '',
        e.account_id ?? '',
      ];
      const c = e.type === 'impression' ? [1, 0] : [0, 1];
      add(deltas, 'ad_minute', [minuteOf(e.ts), ...dims], c);
      add(deltas, 'ad_hourly', [hourOf(e.ts), ...dims], c);
      add(deltas, 'ad_daily', [`${dayOf(e.ts)}T00:00:00.000Z`, ...dims], c);
    }
  }
  return { deltas, users };
}
