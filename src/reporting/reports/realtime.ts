import type { Queryable } from '../../storage/db.js';

export interface Realtime {
  visitors: number;
  views: number;
  events: number;
  top_pages: { path: string; views: number }[];
}

/**
 * Exact visitors, views, events and top pages of the minute buckets from `fromMinute` on (ISO):
 * the realtime view. The buckets hold the last hour only.
 */
export async function realtime(
  db: Queryable,
  siteId: string,
  fromMinute: string,
  top: number,
): Promise<Realtime> {
  const args = [siteId, fromMinute];
  const totals = await db.query<{ views: number; events: number; visitors: number }>(
    `/* report:realtime */ SELECT
       (SELECT COALESCE(SUM(views), 0) FROM site_minute WHERE site_id = $1 AND minute >= $2::timestamptz)::int8 AS views,
       (SELECT COALESCE(SUM(events), 0) FROM site_minute WHERE site_id = $1 AND minute >= $2::timestamptz)::int8 AS events,
       (SELECT COUNT(DISTINCT user_key) FROM site_minute_users WHERE site_id = $1 AND minute >= $2::timestamptz)::int8 AS visitors`,
    args,
  );
  const pages = await db.query<{ path: string; views: number }>(
    '/* report:realtime-pages */ SELECT path, SUM(views)::int8 AS views FROM site_minute_paths WHERE site_id = $1 AND minute >= $2::timestamptz GROUP BY path ORDER BY views DESC, path COLLATE "C" LIMIT $3',
    [...args, top],
  );
  const t = totals.rows[0];
  return {
    visitors: Number(t?.visitors ?? 0),
    views: Number(t?.views ?? 0),
    events: Number(t?.events ?? 0),
    top_pages: pages.rows.map((r) => ({ path: r.path, views: Number(r.views) })),
  };
}
