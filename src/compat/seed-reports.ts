import { SeedError } from './seed-errors.js';
import { parseDate } from '../events/time.js';
import { siteStats } from '../reporting/reports/site-stats.js';
import type { Queryable } from '../storage/db.js';

/** "All time" for the seeds whose `date` is optional: every day a rollup can hold. */
export const ALL_TIME = { from: '1970-01-01', to: '9999-12-31' } as const;

export interface SeedStats {
  /** page_view events. */
  views: number;
  /** Events of every type. */
  events: number;
  /** Exact distinct users over the range: user_id, else visitor_id, else the cookieless daily hash. */
  uniqueUsers: number;
  topPaths: { path: string; views: number }[];
}

/**
 * Site statistics with a seed's meaning: top paths over page views only (`pageViewsOnly`) or
 * over every event type, most viewed first, ties in the order the paths were first seen.
 */
export async function seedStats(
  db: Queryable,
  q: { siteId: string; from: string; to: string; top: number; pageViewsOnly: boolean },
): Promise<SeedStats> {
  const totals = await siteStats(db, q.siteId, q.from, q.to, 1);
  const paths = await db.query<{ path: string; views: number }>(
    `/* report:compat-top-paths */ SELECT path, SUM(events)::int8 AS views FROM site_daily_type_paths
     WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND ($5::text IS NULL OR type = $5)
     GROUP BY path ORDER BY views DESC, MIN(first_ms) ASC, path ASC LIMIT $4`,
    [q.siteId, q.from, q.to, q.top, q.pageViewsOnly ? 'page_view' : null],
  );
  return {
    views: totals.total_views,
    events: totals.total_events,
    uniqueUsers: totals.unique_users,
    topPaths: paths.rows.map((r) => ({ path: r.path, views: Number(r.views) })),
  };
}

/** `YYYY-MM-DD` that names a real day, else a 400 naming the parameter in the seed's words. */
export function seedDate(
  name: string,
  v: string,
  message = 'must be a real date in YYYY-MM-DD format',
): string {
  if (parseDate(v) === undefined) {
    throw new SeedError(400, `${name} ${message}`, [{ field: name, message }]);
  }
  return v;
}
