import type { Db, Queryable } from './db.js';

/**
 * The monthly path rollups (migrations/0014): `site_monthly_paths` and `site_monthly_type_paths`
 * hold, per site, month and path, the sums of the daily path rows of every day before the
 * watermark `dedup_state.paths_compacted_before`.
 */

/** Days before this one (YYYY-MM-DD) are in the monthly tables; null: none yet. */
export async function pathsCompactedBefore(db: Queryable): Promise<string | null> {
  const r = await db.query<{ w: string | null }>(
    '/* path-months:watermark */ SELECT paths_compacted_before::text AS w FROM dedup_state',
  );
  return r.rows[0]?.w ?? null;
}

/** The month (its first day) of a day, in SQL. */
const MONTH = "date_trunc('month', day)::date";

/**
 * Adds the daily path rows of the days [from, before) to their months, for `$1` sites. The
 * sites are listed because the daily tables are keyed by (site_id, day, …): with the sites
 * the day range is an index range per site instead of a scan of every day.
 */
async function addDays(tx: Queryable, sites: string[], from: string, before: string) {
  const args = [sites, from, before];
  await tx.query(
    `/* path-months:compact-paths */ INSERT INTO site_monthly_paths (site_id, month, path, views)
     SELECT site_id, ${MONTH}, path, SUM(views) FROM site_daily_paths
     WHERE site_id = ANY($1::text[]) AND day >= $2::date AND day < $3::date
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
     ON CONFLICT (site_id, month, path) DO UPDATE SET views = site_monthly_paths.views + EXCLUDED.views`,
    args,
  );
  await tx.query(
    `/* path-months:compact-type-paths */ INSERT INTO site_monthly_type_paths (site_id, month, path, views, events)
     SELECT site_id, ${MONTH}, path, COALESCE(SUM(events) FILTER (WHERE type = 'page_view'), 0), SUM(events)
     FROM site_daily_type_paths
     WHERE site_id = ANY($1::text[]) AND day >= $2::date AND day < $3::date
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
     ON CONFLICT (site_id, month, path) DO UPDATE SET views = site_monthly_type_paths.views + EXCLUDED.views, events = site_monthly_type_paths.events + EXCLUDED.events`,
    args,
  );
}

/** Every site with daily rows: a loose index scan of `site_daily` (one probe per site). */
async function sitesWithDays(db: Queryable): Promise<string[]> {
  const r = await db.query<{ site_id: string }>(
    `/* path-months:sites */ WITH RECURSIVE s AS (
       (SELECT site_id FROM site_daily ORDER BY site_id LIMIT 1)
       UNION ALL
       SELECT (SELECT d.site_id FROM site_daily d WHERE d.site_id > s.site_id ORDER BY d.site_id LIMIT 1)
       FROM s WHERE s.site_id IS NOT NULL
     ) SELECT site_id FROM s WHERE site_id IS NOT NULL`,
  );
  return r.rows.map((row) => row.site_id);
}

const DAY_MS = 86_400_000;
const addDaysTo = (day: string, n: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);

/**
 * One compaction step, one transaction: adds the days from the watermark (at most `stepDays`,
 * never `target` or later) to their months and moves the watermark past them. The watermark's
 * row is locked first: that waits for every batch in flight (they hold it FOR SHARE) and holds
 * back new ones until this commits, so the sums read every day's committed rows, and a batch
 * after it sees the new watermark and adds its late rows to the months itself. Two workers'
 * steps take turns on the row, the second one going on from where the first left it. Returns
 * the new watermark, or undefined when there was nothing to do.
 */
export async function compactStep(
  db: Db,
  target: string,
  stepDays: number,
): Promise<string | undefined> {
  const due = (w: string | null) => w === null || w < target;
  // Without the lock first: most passes find nothing to do and hold back no batch.
  if (!due(await pathsCompactedBefore(db))) {
    return undefined;
  }
  return db.transaction(async (tx) => {
    const r = await tx.query<{ w: string | null }>(
      '/* path-months:lock */ SELECT paths_compacted_before::text AS w FROM dedup_state FOR UPDATE',
    );
    const before = r.rows[0]?.w ?? null;
    if (!due(before)) {
      return undefined;
    }
    let from = before;
    if (from === null) {
      // First run: from the first day with rows (none before it to add), read under the lock
      // so that no batch adds an earlier day meanwhile.
      const first = await tx.query<{ d: string | null }>(
        '/* path-months:first-day */ SELECT min(day)::text AS d FROM site_daily',
      );
      from = minDay(first.rows[0]?.d ?? target, target);
    }
    const next = minDay(addDaysTo(from, stepDays), target);
    await tx.query(
      '/* path-months:advance */ UPDATE dedup_state SET paths_compacted_before = $1::date',
      [next],
    );
    if (from < next) {
      const sites = await sitesWithDays(tx);
      if (sites.length > 0) {
        await addDays(tx, sites, from, next);
      }
    }
    return next;
  });
}

const minDay = (a: string, b: string) => (a < b ? a : b);
