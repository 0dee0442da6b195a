import { AD_DIMENSIONS, type CanonicalEvent } from '../events/event.js';
import { dayOf, hourOf, minuteOf } from '../events/time.js';
import { deriveDimensions, type Dimensions } from '../dimensions/derive.js';
import { addDims, newDimAcc, REALTIME_HORIZON_MS, ROLLUP_DIMS, type DimAcc } from './dimensions.js';

/** A counter row: key columns then counter columns, in table column order. */
export type Row = (string | number)[];

export interface CounterTable {
  table: string;
  keys: { name: string; type: 'text' | 'date' | 'timestamptz' }[];
  counters: string[];
  /** Columns after the counters that keep the smallest value instead of a sum (first seen). */
  minima?: string[];
}

/** The three ad rollups: a bucket and the five ad dimensions, impressions and clicks. */
function adTable(table: 'ad_minute' | 'ad_hourly' | 'ad_daily'): CounterTable {
  return {
    table,
    keys: [
      { name: 'bucket', type: 'timestamptz' },
      ...AD_DIMENSIONS.map((name) => ({ name, type: 'text' as const })),
    ],
    counters: ['impressions', 'clicks'],
  };
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
  siteDims: {
    table: 'site_daily_dims',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'day', type: 'date' },
      { name: 'dim', type: 'text' },
      { name: 'value', type: 'text' },
    ],
    counters: ['views', 'events'],
  },
  siteProps: {
    table: 'site_daily_props',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'day', type: 'date' },
      { name: 'type', type: 'text' },
      { name: 'key', type: 'text' },
      { name: 'value', type: 'text' },
    ],
    counters: ['events'],
  },
  siteBots: {
    table: 'site_daily_bots',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'day', type: 'date' },
    ],
    counters: ['events'],
  },
  siteMinute: {
    table: 'site_minute',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'minute', type: 'timestamptz' },
    ],
    counters: ['views', 'events'],
  },
  siteMinutePaths: {
    table: 'site_minute_paths',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'minute', type: 'timestamptz' },
      { name: 'path', type: 'text' },
    ],
    counters: ['views'],
  },
  ad_minute: adTable('ad_minute'),
  ad_hourly: adTable('ad_hourly'),
  ad_daily: adTable('ad_daily'),
} satisfies Record<string, CounterTable>;

/** A rollup table's key in `TABLES`: a misspelt one does not compile. */
export type TableKey = keyof typeof TABLES;

/** Rollup deltas of a set of (already deduplicated) events, per table, keyed for merging. */
export type Deltas = Map<TableKey, Map<string, Row>>;

/** Tables of rows that are a set (exact visitors): inserted ON CONFLICT DO NOTHING. */
export const SET_TABLES = {
  users: { table: 'site_daily_users', columns: ['site_id', 'day', 'user_key'] },
  profiles: {
    table: 'site_daily_user_profiles',
    columns: ['site_id', 'day', 'user_key', 'browser', 'os', 'device', 'country'],
  },
  dimUsers: {
    table: 'site_daily_dim_users',
    columns: ['site_id', 'day', 'dim', 'value', 'user_key'],
  },
  minuteUsers: { table: 'site_minute_users', columns: ['site_id', 'minute', 'user_key'] },
} as const;
export type SetKey = keyof typeof SET_TABLES;

export interface RollupResult {
  deltas: Deltas;
  /** [site_id, day, user_key] rows for exact unique users. */
  users: Map<string, [string, string, string]>;
  /**
   * The other set tables' rows, keyed for `KnownKeys` (each key starts with its table's name,
   * so keys of two tables never meet).
   */
  sets: Map<Exclude<SetKey, 'users'>, Map<string, Row>>;
  /** Bot events left out of every rollup (counted in `site_daily_bots` only). */
  bots: number;
}

export interface RollupOptions {
  /** Each event's dimensions, aligned with the events (derived here when absent). */
  dims?: readonly Dimensions[];
  /** `drop` (the default): bots are counted in `site_daily_bots` only; `count`: like people. */
  bots?: 'drop' | 'count';
  /** The aggregator's clock: minute buckets are written for the last hour's events only. */
  now?: number;
}

/** What one site's events of one UTC day add up to; the keys below it are short. */
interface SiteDay {
  site: string;
  day: string;
  views: number;
  events: number;
  types: Map<string, number>;
  /** hour label → [views, events] */
  hours: Map<string, [number, number]>;
  /** page views per path */
  paths: Map<string, number>;
  /** type → path → [events, first event time] */
  typePaths: Map<string, Map<string, [number, number]>>;
  users: Set<string>;
  dims: DimAcc;
  bots: number;
  /** Realtime: minute label → [views, events, path → views, users] */
  minutes: Map<string, MinuteAcc>;
}

interface MinuteAcc {
  views: number;
  events: number;
  paths: Map<string, number>;
  users: Set<string>;
}

/** What one ad (its five dimensions) adds up to, per bucket: bucket → [impressions, clicks]. */
interface AdCounts {
  dims: string[];
  minutes: Map<string, [number, number]>;
  hours: Map<string, [number, number]>;
  days: Map<string, [number, number]>;
}

const bump = (m: Map<string, [number, number]>, k: string, i: 0 | 1): void => {
  const c = m.get(k);
  if (c) {
    c[i]++;
  } else {
    m.set(k, i === 0 ? [1, 0] : [0, 1]);
  }
};

export function userKey(e: CanonicalEvent): string | undefined {
  if (e.user_id !== undefined) {
    return `u:${e.user_id}`;
  }
  if (e.visitor_id !== undefined) {
    return `v:${e.visitor_id}`;
  }
  return e.vh === undefined ? undefined : `h:${e.vh}`;
}

/**
 * Pure: what a set of new events adds to every rollup. Buckets are UTC. Events are first summed
 * per (site, day) and per ad, where the per-event keys are short (a path, a type, an hour), and
 * the composite-keyed rows are made once per distinct row at the end.
 */
export function computeRollups(events: CanonicalEvent[], opts: RollupOptions = {}): RollupResult {
  const siteDays = new Map<string, SiteDay>();
  const ads = new Map<string, AdCounts>();
  const dropBots = opts.bots !== 'count';
  const recent = (opts.now ?? Date.now()) - REALTIME_HORIZON_MS;
  let bots = 0;
  let last: SiteDay | undefined;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const d = opts.dims?.[i] ?? deriveDimensions(e);
    const isView = e.type === 'page_view';
    const site = e.site_id;
    if (site !== undefined) {
      const day = dayOf(e.ts);
      let g = last;
      if (g === undefined || g.site !== site || g.day !== day) {
        const sd = `${site}\u0001${day}`;
        g = siteDays.get(sd);
        if (!g) {
          g = {
            site,
            day,
            views: 0,
            events: 0,
            types: new Map(),
            hours: new Map(),
            paths: new Map(),
            typePaths: new Map(),
            users: new Set(),
            dims: newDimAcc(),
            bots: 0,
            minutes: new Map(),
          };
          siteDays.set(sd, g);
        }
        last = g;
      }
      if (d.bot && dropBots) {
        g.bots++;
        bots++;
        continue;
      }
      g.events++;
      g.types.set(e.type, (g.types.get(e.type) ?? 0) + 1);
      const hour = hourOf(e.ts);
      let h = g.hours.get(hour);
      if (!h) {
        h = [0, 0];
        g.hours.set(hour, h);
      }
      h[1]++;
      if (isView) {
        g.views++;
        h[0]++;
      }
      if (e.path !== undefined) {
        if (isView) {
          g.paths.set(e.path, (g.paths.get(e.path) ?? 0) + 1);
        }
        let byPath = g.typePaths.get(e.type);
        if (!byPath) {
          byPath = new Map();
          g.typePaths.set(e.type, byPath);
        }
        const tp = byPath.get(e.path);
        if (tp) {
          tp[0]++;
          tp[1] = Math.min(tp[1], e.ts);
        } else {
          byPath.set(e.path, [1, e.ts]);
        }
      }
      const user = userKey(e);
      if (user !== undefined) {
        g.users.add(user);
      }
      addDims(g.dims, e, d, user);
      if (e.ts >= recent) {
        addMinute(g.minutes, e, isView, user);
      }
    } else if (d.bot && dropBots) {
      // An ad event has no site: a bot's is not counted, and its drop has no site to go to.
      bots++;
      continue;
    }
    if (
      (e.type === 'impression' || e.type === 'click') &&
      (e.ad_id !== undefined || e.ad_unit_id !== undefined)
    ) {
      const dims = AD_DIMENSIONS.map((d) => e[d] ?? '');
      const d = dims.join('\u0001');
      let a = ads.get(d);
      if (!a) {
        a = { dims, minutes: new Map(), hours: new Map(), days: new Map() };
        ads.set(d, a);
      }
      const i = e.type === 'impression' ? 0 : 1;
      bump(a.minutes, minuteOf(e.ts), i);
      bump(a.hours, hourOf(e.ts), i);
      bump(a.days, dayOf(e.ts), i);
    }
  }
  return { ...toRows(siteDays, ads), bots };
}

function addMinute(
  minutes: Map<string, MinuteAcc>,
  e: CanonicalEvent,
  isView: boolean,
  user: string | undefined,
): void {
  const label = minuteOf(e.ts);
  let m = minutes.get(label);
  if (!m) {
    m = { views: 0, events: 0, paths: new Map(), users: new Set() };
    minutes.set(label, m);
  }
  m.events++;
  if (isView) {
    m.views++;
    if (e.path !== undefined) {
      m.paths.set(e.path, (m.paths.get(e.path) ?? 0) + 1);
    }
  }
  if (user !== undefined) {
    m.users.add(user);
  }
}

function toRows(
  siteDays: Map<string, SiteDay>,
  ads: Map<string, AdCounts>,
): Omit<RollupResult, 'bots'> {
  const deltas: Deltas = new Map();
  const users = new Map<string, [string, string, string]>();
  const sets: RollupResult['sets'] = new Map();
  const set = (name: Exclude<SetKey, 'users'>) => {
    let m = sets.get(name);
    if (!m) {
      m = new Map();
      sets.set(name, m);
    }
    return m;
  };
  const table = (name: TableKey) => {
    let m = deltas.get(name);
    if (!m) {
      m = new Map();
      deltas.set(name, m);
    }
    return m;
  };
  for (const [sd, g] of siteDays) {
    const { site, day } = g;
    table('siteDaily').set(sd, [site, day, g.views, g.events]);
    for (const [type, n] of g.types) {
      table('siteTypes').set(`${sd}\u0001${type}`, [site, day, type, n]);
    }
    for (const [hour, [views, n]] of g.hours) {
      // An hour belongs to one day, so (site, hour) rows never meet across groups.
      table('siteHourly').set(`${site}\u0001${hour}`, [site, hour, views, n]);
    }
    for (const [path, n] of g.paths) {
      table('sitePaths').set(`${sd}\u0001${path}`, [site, day, path, n]);
    }
    for (const [type, byPath] of g.typePaths) {
      for (const [path, [n, first]] of byPath) {
        table('siteTypePaths').set(`${sd}\u0001${type}\u0001${path}`, [
          site,
          day,
          type,
          path,
          n,
          first,
        ]);
      }
    }
    for (const user of g.users) {
      users.set(`${sd}\u0001${user}`, [site, day, user]);
    }
    if (g.events > 0) {
      dimRows(g, sd, table, set);
    }
    if (g.bots > 0) {
      table('siteBots').set(sd, [site, day, g.bots]);
    }
    for (const [minute, m] of g.minutes) {
      const sm = `${site}\u0001${minute}`;
      table('siteMinute').set(sm, [site, minute, m.views, m.events]);
      for (const [path, n] of m.paths) {
        table('siteMinutePaths').set(`${sm}\u0001${path}`, [site, minute, path, n]);
      }
      for (const user of m.users) {
        set('minuteUsers').set(`m\u0001${sm}\u0001${user}`, [site, minute, user]);
      }
    }
  }
  for (const [d, a] of ads) {
    for (const [name, buckets, label] of [
      ['ad_minute', a.minutes, (b: string) => b],
      ['ad_hourly', a.hours, (b: string) => b],
      ['ad_daily', a.days, (b: string) => `${b}T00:00:00.000Z`],
    ] as const) {
      const m = table(name);
      for (const [b, [imp, clk]] of buckets) {
        const bucket = label(b);
        m.set(`${bucket}\u0001${d}`, [bucket, ...a.dims, imp, clk]);
      }
    }
  }
  return { deltas, users, sets };
}

/** The dimension rows of one site and day. Set-row keys start with their table's letter. */
function dimRows(
  g: SiteDay,
  sd: string,
  table: (name: TableKey) => Map<string, Row>,
  set: (name: Exclude<SetKey, 'users'>) => Map<string, Row>,
): void {
  const { site, day, dims } = g;
  const counters = table('siteDims');
  ROLLUP_DIMS.forEach((dim, i) => {
    for (const [value, [views, n]] of dims.counts[i]!) {
      counters.set(`${sd}\u0001${dim}\u0001${value}`, [site, day, dim, value, views, n]);
    }
  });
  for (const [user, v] of dims.visitors) {
    for (const p of v.profiles) {
      set('profiles').set(`p\u0001${sd}\u0001${user}\u0001${p.join('\u0001')}`, [
        site,
        day,
        user,
        ...p,
      ]);
    }
    for (const [dim, value] of v.acquired) {
      set('dimUsers').set(`d\u0001${sd}\u0001${dim}\u0001${value}\u0001${user}`, [
        site,
        day,
        dim,
        value,
        user,
      ]);
    }
  }
  for (const [k, [type, key, value, n]] of dims.props) {
    table('siteProps').set(`${sd}\u0001${k}`, [site, day, type, key, value, n]);
  }
}

/** Ad counts already summed per UTC minute (seed 000 kept only these). */
export interface AdMinuteCounts {
  minuteMs: number;
  dims: Record<(typeof AD_DIMENSIONS)[number], string>;
  impressions: number;
  clicks: number;
}

/** Pure: the ad rollup deltas (minute, hour, day) of per-minute counts. */
export function adCountDeltas(rows: AdMinuteCounts[]): Deltas {
  const ads = new Map<string, AdCounts>();
  const add = (m: Map<string, [number, number]>, k: string, imp: number, clk: number) => {
    const c = m.get(k);
    if (c) {
      c[0] += imp;
      c[1] += clk;
    } else {
      m.set(k, [imp, clk]);
    }
  };
  for (const r of rows) {
    const dims = AD_DIMENSIONS.map((d) => r.dims[d]);
    const d = dims.join('\u0001');
    let a = ads.get(d);
    if (!a) {
      a = { dims, minutes: new Map(), hours: new Map(), days: new Map() };
      ads.set(d, a);
    }
    add(a.minutes, minuteOf(r.minuteMs), r.impressions, r.clicks);
    add(a.hours, hourOf(r.minuteMs), r.impressions, r.clicks);
    add(a.days, dayOf(r.minuteMs), r.impressions, r.clicks);
  }
  return toRows(new Map(), ads).deltas;
}

/**
 * The monthly path rollups (migrations/0014), which a background compaction fills with the days
 * before its watermark. A batch writes them only for its path rows of such days (late events,
 * imports of old days); see `lateMonthRows`.
 */
export const MONTHLY_TABLES = {
  paths: {
    table: 'site_monthly_paths',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'month', type: 'date' },
      { name: 'path', type: 'text' },
    ],
    counters: ['views'],
  },
  typePaths: {
    table: 'site_monthly_type_paths',
    keys: [
      { name: 'site_id', type: 'text' },
      { name: 'month', type: 'date' },
      { name: 'path', type: 'text' },
    ],
    counters: ['views', 'events'],
  },
} satisfies Record<string, CounterTable>;

/**
 * Pure: the monthly rows of the path deltas of days before `before` (YYYY-MM-DD), summed per
 * (site, month, path): one upsert may not touch a row twice. Types are folded into views (page
 * views) and events, as the monthly table keeps them.
 */
export function lateMonthRows(deltas: Deltas, before: string): { paths: Row[]; typePaths: Row[] } {
  const month = (day: string) => `${day.slice(0, 8)}01`;
  const paths = new Map<string, Row>();
  for (const [site, day, path, n] of deltas.get('sitePaths')?.values() ?? []) {
    if (String(day) < before) {
      const m = month(String(day));
      const k = `${site}\u0001${m}\u0001${path}`;
      const r = paths.get(k);
      if (r) {
        r[3] = Number(r[3]) + Number(n);
      } else {
        paths.set(k, [site!, m, path!, Number(n)]);
      }
    }
  }
  const typePaths = new Map<string, Row>();
  for (const [site, day, type, path, n] of deltas.get('siteTypePaths')?.values() ?? []) {
    if (String(day) < before) {
      const m = month(String(day));
      const k = `${site}\u0001${m}\u0001${path}`;
      const views = type === 'page_view' ? Number(n) : 0;
      const r = typePaths.get(k);
      if (r) {
        r[3] = Number(r[3]) + views;
        r[4] = Number(r[4]) + Number(n);
      } else {
        typePaths.set(k, [site!, m, path!, views, Number(n)]);
      }
    }
  }
  return { paths: [...paths.values()], typePaths: [...typePaths.values()] };
}
