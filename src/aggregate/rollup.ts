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

/** The delta row of `k` in `table`, created from `key` and zeroed counters when missing. */
function row(deltas: Deltas, table: string, k: string, key: Row, width: number): Row {
  let m = deltas.get(table);
  if (!m) {
    m = new Map();
    deltas.set(table, m);
  }
  let r = m.get(k);
  if (!r) {
    r = key.concat(Array<number>(width).fill(0));
    m.set(k, r);
  }
  return r;
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
    const site = e.site_id;
    if (site !== undefined) {
      const day = dayOf(e.ts);
      const sd = `${site}\u0001${day}`;
      let r = row(deltas, 'siteDaily', sd, [site, day], 2);
      (r[2] as number) += isView;
      (r[3] as number) += 1;
      r = row(deltas, 'siteTypes', `${sd}\u0001${e.type}`, [site, day, e.type], 1);
      (r[3] as number) += 1;
      const hour = hourOf(e.ts);
      r = row(deltas, 'siteHourly', `${site}\u0001${hour}`, [site, hour], 2);
      (r[2] as number) += isView;
      (r[3] as number) += 1;
      if (e.path !== undefined) {
        if (isView) {
          r = row(deltas, 'sitePaths', `${sd}\u0001${e.path}`, [site, day, e.path], 1);
          (r[3] as number) += 1;
        }
        const k = `${sd}\u0001${e.type}\u0001${e.path}`;
        r = row(deltas, 'siteTypePaths', k, [site, day, e.type, e.path, 0, e.ts], 0);
        (r[4] as number) += 1;
        r[5] = Math.min(r[5] as number, e.ts);
      }
      const user = userKey(e);
      if (user !== undefined) {
        users.set(`${sd}\u0001${user}`, [site, day, user]);
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
      const d = dims.join('\u0001');
      const impression = e.type === 'impression';
      for (const [table, bucket] of [
        ['ad_minute', minuteOf(e.ts)],
        ['ad_hourly', hourOf(e.ts)],
        ['ad_daily', `${dayOf(e.ts)}T00:00:00.000Z`],
      ] as const) {
        const ar = row(deltas, table, `${bucket}\u0001${d}`, [bucket, ...dims], 2);
        (ar[impression ? 6 : 7] as number) += 1;
      }
    }
  }
  return { deltas, users };
}
