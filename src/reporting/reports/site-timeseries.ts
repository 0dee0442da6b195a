import type { Queryable } from '../../storage/db.js';
import { DAY_MS } from '../../events/time.js';
import { NAMED } from './site-stats.js';

export interface SeriesPoint {
  bucket: string;
  views: number;
  events: number;
  unique_users?: number;
}

/** Views and events per hour or day, zero-filled; exact unique users per day. */
export async function siteTimeseries(
  db: Queryable,
  siteId: string,
  fromMs: number,
  toMs: number,
  interval: 'hour' | 'day',
): Promise<SeriesPoint[]> {
  const from = new Date(fromMs).toISOString().slice(0, 10);
  const to = new Date(toMs).toISOString().slice(0, 10);
  const points = new Map<string, SeriesPoint>();
  const step = interval === 'day' ? DAY_MS : 3_600_000;
  for (let t = fromMs; t < toMs + DAY_MS; t += step) {
    const bucket =
      interval === 'day' ? new Date(t).toISOString().slice(0, 10) : new Date(t).toISOString();
    points.set(
      bucket,
      interval === 'day'
        ? { bucket, views: 0, events: 0, unique_users: 0 }
        : { bucket, views: 0, events: 0 },
    );
  }
  if (interval === 'day') {
    const r = await db.query<{ day: string; views: number; events: number }>(
      '/* report:site-daily-series */ SELECT day::text AS day, views, events FROM site_daily WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date',
      [siteId, from, to],
    );
    for (const row of r.rows) {
      Object.assign(points.get(row.day) ?? {}, {
        views: Number(row.views),
        events: Number(row.events),
      });
    }
    // A day's rows are distinct: named visitors' rows counted, anonymous ones' counts summed.
    const u = await db.query<{ day: string; n: number }>(
      `/* report:site-daily-uniques */ SELECT day::text AS day, SUM(n)::int8 AS n FROM (
         SELECT day, COUNT(*) AS n FROM site_daily_users WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date AND ${NAMED} GROUP BY day
         UNION ALL
         SELECT day, visitors FROM site_daily_anon WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date
         UNION ALL
         SELECT day, users FROM site_daily_user_counts WHERE site_id = $1 AND day BETWEEN $2::date AND $3::date
       ) d GROUP BY day`,
      [siteId, from, to],
    );
    for (const row of u.rows) {
      Object.assign(points.get(row.day) ?? {}, { unique_users: Number(row.n) });
    }
  } else {
    const r = await db.query<{ hour: Date | string; views: number; events: number }>(
      '/* report:site-hourly-series */ SELECT hour, views, events FROM site_hourly WHERE site_id = $1 AND hour >= $2::timestamptz AND hour < $3::timestamptz',
      [siteId, new Date(fromMs).toISOString(), new Date(toMs + DAY_MS).toISOString()],
    );
    for (const row of r.rows) {
      const key = new Date(row.hour).toISOString();
      Object.assign(points.get(key) ?? {}, {
        views: Number(row.views),
        events: Number(row.events),
      });
    }
  }
  return [...points.values()];
}
