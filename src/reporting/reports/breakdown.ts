import type { Queryable } from '../../storage/db.js';
import { PROFILE_DIMS, type RollupDim } from '../../rollups/dimensions.js';
import { NAMED } from './site-stats.js';
import { rankFromMonths, type PathSource } from './path-ranking.js';

/**
 * Views (page-view events) and events per path, for the path breakdown from whole months (a
 * path without page views has 0 where the daily query has NULL; both sort after every view).
 */
const TYPE_PATHS: PathSource = {
  tag: 'breakdown-path-months',
  daily: (where) =>
    `SELECT path, CASE WHEN type = 'page_view' THEN events ELSE 0 END AS v, events AS e FROM site_daily_type_paths WHERE site_id = $1 AND ${where}`,
  monthly: 'site_monthly_type_paths',
  monthlyViews: 'views',
  monthlyEvents: 'events',
  order: 'views DESC, events DESC, path COLLATE "C"',
  present: 'events > 0',
};

export interface BreakdownRow {
  value: string;
  views: number;
  events: number;
  /** Absent for `path` and `prop`: they keep no per-visitor rows. */
  visitors?: number;
}

/** One breakdown: a rollup dimension, path, or a custom property of one event type. */
export type BreakdownOf =
  | { dimension: RollupDim }
  | { dimension: 'path' }
  | { dimension: 'prop'; type: string; key: string };

const isProfile = (d: string): d is (typeof PROFILE_DIMS)[number] =>
  (PROFILE_DIMS as readonly string[]).includes(d);

/**
 * Exact visitors per value of a dimension over [from, to]: distinct over the named visitors'
 * rows, plus the anonymous visitors' per-day counts (they are day-scoped: migrations/0013), plus
 * the counts kept for days whose rows the retention purged. `$1` site, `$2`/`$3` the days,
 * `$4` the dimension. Browser, OS, device and country come from the visitor profiles, one
 * column each; the acquisition dimensions from their (dim, value, user) rows.
 */
export function visitorsSql(dim: RollupDim): string {
  const rows = isProfile(dim)
    ? `SELECT ${dim} AS value, user_key FROM site_daily_user_profiles WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND ${NAMED}`
    : `SELECT value, user_key FROM site_daily_dim_users WHERE site_id = $1 AND dim = $4 AND day BETWEEN $2::date AND $3::date AND ${NAMED}`;
  return `SELECT value, SUM(n)::int8 AS visitors FROM (
      SELECT value, COUNT(*) AS n FROM (SELECT DISTINCT value, user_key FROM (${rows}) r) d GROUP BY value
      UNION ALL
      SELECT value, visitors FROM site_daily_dim_anon WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND dim = $4
      UNION ALL
      SELECT value, visitors FROM site_daily_dim_user_counts WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND dim = $4
    ) v GROUP BY value`;
}

/**
 * The per-visitor rows of a dimension as (day, user_key, value), for `$1` site and `$2`/`$3`
 * days; an acquisition dimension's name is added to `params` and referenced.
 */
function visitorRows(dim: RollupDim, params: unknown[]): string {
  if (isProfile(dim)) {
    return `SELECT day, user_key, ${dim} AS value FROM site_daily_user_profiles WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date`;
  }
  params.push(dim);
  return `SELECT day, user_key, value FROM site_daily_dim_users WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND dim = $${params.length}`;
}

/**
 * A breakdown of the visitors matching a filter: exact distinct visitors per value of `dim`
 * among the visitor-days that had `filter`'s value, joined on (day, user_key). Visitors only:
 * views are rolled up per dimension, not per pair of dimensions, so a filtered view count per
 * value does not exist. Days whose per-visitor rows the retention removed are not counted.
 */
export async function filteredBreakdown(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
  dim: RollupDim,
  filter: { dimension: RollupDim; value: string },
  limit: number,
): Promise<{ value: string; visitors: number }[]> {
  const params: unknown[] = [siteId, from, to, filter.value, limit];
  const matched = visitorRows(filter.dimension, params);
  const rows = visitorRows(dim, params);
  const r = await db.query<{ value: string; visitors: number }>(
    `/* report:breakdown-filtered */ WITH matched AS (
       SELECT DISTINCT day, user_key FROM (${matched}) f WHERE value = $4
     )
     SELECT value, COUNT(DISTINCT user_key)::int8 AS visitors
     FROM (${rows}) r JOIN matched m USING (day, user_key)
     GROUP BY value ORDER BY visitors DESC, value COLLATE "C" LIMIT $5`,
    params,
  );
  return r.rows.map((row) => ({ value: row.value, visitors: Number(row.visitors) }));
}

/**
 * The top `limit` values of a dimension over an inclusive UTC date range, by visitors, then
 * views, then value (path and prop: by views or events, then value).
 */
export async function breakdown(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
  of: BreakdownOf,
  limit: number,
): Promise<BreakdownRow[]> {
  type R = { value: string; views: number; events: number; visitors?: number };
  let r: { rows: R[] };
  if (of.dimension === 'path') {
    const ranked = await rankFromMonths(db, TYPE_PATHS, siteId, from, to, limit);
    if (ranked) {
      return ranked.map((row) => ({ value: row.path, views: row.views, events: row.events }));
    }
    r = await db.query<R>(
      `/* report:breakdown-path */ SELECT path AS value, (SUM(events) FILTER (WHERE type = 'page_view'))::int8 AS views, SUM(events)::int8 AS events
       FROM site_daily_type_paths WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date
       GROUP BY path ORDER BY views DESC NULLS LAST, events DESC, path COLLATE "C" LIMIT $4`,
      [siteId, from, to, limit],
    );
  } else if (of.dimension === 'prop') {
    r = await db.query<R>(
      `/* report:breakdown-prop */ SELECT value, SUM(events)::int8 AS events
       FROM site_daily_props WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND type = $4 AND key = $5
       GROUP BY value ORDER BY events DESC, value COLLATE "C" LIMIT $6`,
      [siteId, from, to, of.type, of.key, limit],
    );
    const views = of.type === 'page_view';
    return r.rows.map((row) => ({
      value: row.value,
      views: views ? Number(row.events) : 0,
      events: Number(row.events),
    }));
  } else {
    r = await db.query<R>(
      `/* report:breakdown */ SELECT c.value, c.views, c.events, COALESCE(v.visitors, 0)::int8 AS visitors FROM (
         SELECT value, SUM(views)::int8 AS views, SUM(events)::int8 AS events FROM site_daily_dims
         WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND dim = $4 GROUP BY value
       ) c LEFT JOIN (${visitorsSql(of.dimension)}) v ON v.value = c.value
       ORDER BY visitors DESC, c.views DESC, c.value COLLATE "C" LIMIT $5`,
      [siteId, from, to, of.dimension, limit],
    );
  }
  return r.rows.map((row) => ({
    value: row.value,
    views: Number(row.views ?? 0),
    events: Number(row.events),
    ...(row.visitors === undefined ? {} : { visitors: Number(row.visitors) }),
  }));
}

/** The events of one type over the range (a property breakdown's share is of these). */
export async function typeEvents(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
  type: string,
): Promise<number> {
  const r = await db.query<{ n: number }>(
    '/* report:type-events */ SELECT COALESCE(SUM(events), 0)::int8 AS n FROM site_daily_types WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND type = $4',
    [siteId, from, to, type],
  );
  return Number(r.rows[0]?.n ?? 0);
}
