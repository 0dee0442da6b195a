import type { Queryable } from '../../storage/db.js';
import { rankFromMonths, type PathSource } from './path-ranking.js';

/**
 * The rows of named visitors (user_id, visitor_id), whom only a distinct count over their rows
 * counts exactly; written as the partial indexes of migrations/0013 are, so that they are used.
 */
export const NAMED = "user_key NOT LIKE 'h:%'";

export interface SiteStats {
  total_views: number;
  total_events: number;
  unique_users: number;
  top_paths: { path: string; views: number }[];
  events_by_type: Record<string, number>;
}

/** Views, events and exact unique users (distinct over the whole range) of a site. */
export async function siteTotals(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
): Promise<{ views: number; events: number; users: number }> {
  const args = [siteId, from, to];
  const totals = await db.query<{ views: number; events: number }>(
    '/* report:site-totals */ SELECT COALESCE(SUM(views), 0)::int8 AS views, COALESCE(SUM(events), 0)::int8 AS events FROM site_daily WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date',
    args,
  );
  const users = await db.query<{ n: number }>(
    // Named visitors: distinct over their rows; anonymous ones are day-scoped, so the sum of
    // their days' counts (migrations/0013); days whose per-user rows were purged
    // (USER_ROWS_RETENTION_DAYS) add their kept counts.
    `/* report:site-unique-users */ SELECT
       (SELECT COUNT(DISTINCT user_key) FROM site_daily_users WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND ${NAMED})
     + (SELECT COALESCE(SUM(visitors), 0) FROM site_daily_anon WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date)
     + (SELECT COALESCE(SUM(users), 0) FROM site_daily_user_counts WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date)
     AS n`,
    args,
  );
  return {
    views: Number(totals.rows[0]?.views ?? 0),
    events: Number(totals.rows[0]?.events ?? 0),
    users: Number(users.rows[0]?.n ?? 0),
  };
}

/** Views, events, exact unique users (distinct over the whole range), top paths, counts per type. */
export async function siteStats(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
  top: number,
): Promise<SiteStats> {
  const args = [siteId, from, to];
  const totals = await siteTotals(db, siteId, from, to);
  const topPaths = await topPathsOf(db, siteId, from, to, top);
  const types = await db.query<{ type: string; events: number }>(
    '/* report:site-event-types */ SELECT type, SUM(events)::int8 AS events FROM site_daily_types WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date GROUP BY type ORDER BY type',
    args,
  );
  return {
    total_views: totals.views,
    total_events: totals.events,
    unique_users: totals.users,
    top_paths: topPaths,
    events_by_type: Object.fromEntries(types.rows.map((r) => [r.type, Number(r.events)])),
  };
}

/** Page views per path: the monthly rollups, when the range holds compacted months. */
const PAGE_VIEWS: PathSource = {
  tag: 'site-top-paths-months',
  daily: (where) =>
    `SELECT path, views AS v, views AS e FROM site_daily_paths WHERE site_id = $1 AND ${where}`,
  monthly: 'site_monthly_paths',
  monthlyViews: 'views',
  monthlyEvents: 'views',
  order: 'views DESC, path ASC',
  present: 'views > 0',
};

/** The `top` paths by page views, ties by path: from whole months when it can, else the days. */
async function topPathsOf(
  db: Queryable,
  siteId: string,
  from: string,
  to: string,
  top: number,
): Promise<{ path: string; views: number }[]> {
  const ranked = await rankFromMonths(db, PAGE_VIEWS, siteId, from, to, top);
  if (ranked) {
    return ranked.map((r) => ({ path: r.path, views: r.views }));
  }
  const paths = await db.query<{ path: string; views: number }>(
    '/* report:site-top-paths */ SELECT path, SUM(views)::int8 AS views FROM site_daily_paths WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date GROUP BY path ORDER BY views DESC, path ASC LIMIT $4',
    [siteId, from, to, top],
  );
  return paths.rows.map((r) => ({ path: r.path, views: Number(r.views) }));
}
