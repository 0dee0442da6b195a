import { DAY_MS, dayOf, parseDate } from '../../events/time.js';
import type { Queryable } from '../../storage/db.js';
import { PROFILE_DIMS, type RollupDim } from '../../rollups/dimensions.js';
import { NAMED } from './site-stats.js';

/** A filter on one dimension value; `path` has no per-visitor rows (no visitors). */
export interface Filter {
  dimension: RollupDim | 'path';
  value: string;
}

export interface FilteredDay {
  day: string;
  views: number;
  events: number;
  /** Absent for a path filter. */
  visitors?: number;
}

/**
 * The named visitors' rows matching a filter, as (day, user_key), for `$1` site, `$2`/`$3`
 * days, `$4` dimension, `$5` value.
 */
function userRows(dim: RollupDim): string {
  return (PROFILE_DIMS as readonly string[]).includes(dim)
    ? `SELECT day, user_key FROM site_daily_user_profiles WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND ${dim} = $5 AND ${NAMED}`
    : `SELECT day, user_key FROM site_daily_dim_users WHERE site_id = $1 AND dim = $4 AND day BETWEEN $2::date AND $3::date AND value = $5 AND ${NAMED}`;
}

/** Per-day counts: anonymous visitors (day-scoped, migrations/0013), then purged days' kept counts. */
const COUNTED = `SELECT day, visitors FROM site_daily_dim_anon WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND dim = $4 AND value = $5
  UNION ALL
  SELECT day, visitors FROM site_daily_dim_user_counts WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND dim = $4 AND value = $5`;

/** Views, events and exact visitors (distinct over the whole range) of one dimension value. */
export async function filteredTotals(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
  f: Filter,
): Promise<{ views: number; events: number; visitors?: number }> {
  if (f.dimension === 'path') {
    const r = await db.query<{ views: number | null; events: number }>(
      `/* report:filtered-path-totals */ SELECT (SUM(events) FILTER (WHERE type = 'page_view'))::int8 AS views, COALESCE(SUM(events), 0)::int8 AS events
       FROM site_daily_type_paths WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND path = $4`,
      [siteId, from, to, f.value],
    );
    return { views: Number(r.rows[0]?.views ?? 0), events: Number(r.rows[0]?.events ?? 0) };
  }
  const args = [siteId, from, to, f.dimension, f.value];
  const c = await db.query<{ views: number; events: number }>(
    '/* report:filtered-totals */ SELECT COALESCE(SUM(views), 0)::int8 AS views, COALESCE(SUM(events), 0)::int8 AS events FROM site_daily_dims WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND dim = $4 AND value = $5',
    args,
  );
  const u = await db.query<{ n: number }>(
    `/* report:filtered-visitors */ SELECT
       (SELECT COUNT(DISTINCT user_key) FROM (${userRows(f.dimension)}) r)
     + (SELECT COALESCE(SUM(visitors), 0) FROM (${COUNTED}) k) AS n`,
    args,
  );
  return {
    views: Number(c.rows[0]?.views ?? 0),
    events: Number(c.rows[0]?.events ?? 0),
    visitors: Number(u.rows[0]?.n ?? 0),
  };
}

/** Per day (only days with data): views, events and exact visitors of one dimension value. */
export async function filteredDays(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
  f: Filter,
): Promise<FilteredDay[]> {
  if (f.dimension === 'path') {
    const r = await db.query<{ day: string; views: number | null; events: number }>(
      `/* report:filtered-path-series */ SELECT day::text AS day, (SUM(events) FILTER (WHERE type = 'page_view'))::int8 AS views, SUM(events)::int8 AS events
       FROM site_daily_type_paths WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND path = $4 GROUP BY day`,
      [siteId, from, to, f.value],
    );
    return r.rows.map((row) => ({
      day: row.day,
      views: Number(row.views ?? 0),
      events: Number(row.events),
    }));
  }
  const args = [siteId, from, to, f.dimension, f.value];
  const c = await db.query<{ day: string; views: number; events: number }>(
    '/* report:filtered-series */ SELECT day::text AS day, views, events FROM site_daily_dims WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND dim = $4 AND value = $5',
    args,
  );
  const u = await db.query<{ day: string; n: number }>(
    `/* report:filtered-daily-visitors */ SELECT day::text AS day, SUM(n)::int8 AS n FROM (
       SELECT day, COUNT(DISTINCT user_key) AS n FROM (${userRows(f.dimension)}) r GROUP BY day
       UNION ALL
       ${COUNTED}
     ) d GROUP BY day`,
    args,
  );
  const visitors = new Map(u.rows.map((row) => [row.day, Number(row.n)]));
  return c.rows.map((row) => ({
    day: row.day,
    views: Number(row.views),
    events: Number(row.events),
    visitors: visitors.get(row.day) ?? 0,
  }));
}

/** `/v1/stats` with a filter: the figures the dimension rollups hold (see README). */
export async function filteredStats(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
  filter: Filter,
) {
  const t = await filteredTotals(db, siteId, from, to, filter);
  return {
    filter,
    total_views: t.views,
    total_events: t.events,
    ...(t.visitors === undefined ? {} : { unique_users: t.visitors }),
  };
}

/** `/v1/stats/timeseries` with a filter: every day of the range, zero-filled. */
export async function filteredSeries(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
  filter: Filter,
) {
  const byDay = new Map((await filteredDays(db, siteId, from, to, filter)).map((d) => [d.day, d]));
  const buckets = [];
  for (let t = parseDate(from)!; t <= parseDate(to)!; t += DAY_MS) {
    const bucket = dayOf(t);
    const d = byDay.get(bucket);
    buckets.push({
      bucket,
      views: d?.views ?? 0,
      events: d?.events ?? 0,
      ...(filter.dimension === 'path' ? {} : { unique_users: d?.visitors ?? 0 }),
    });
  }
  return buckets;
}
