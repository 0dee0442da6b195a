import type { Db } from './db.js';

// The path rollups (daily and monthly, migrations/0014) are never purged: the monthly rows stay
// the sums of their days. A purge of daily path rows would have to delete, or recompute, the
// months it makes partial in the same transaction.

/**
 * Deletes at most `limit` dead letters older than `before`; how many went. Small batches: each
 * statement holds its row locks only briefly, and reports and the aggregator go on meanwhile.
 */
export async function purgeDeadLetters(db: Db, before: Date, limit: number): Promise<number> {
  const r = await db.query(
    '/* retention:dead-letters */ DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE failed_at < $1 ORDER BY id LIMIT $2)',
    [before.toISOString(), limit],
  );
  return r.rowCount ?? 0;
}

/** The oldest day that still has per-user rows, if any is before `before` (YYYY-MM-DD). */
export async function oldestUserDayBefore(db: Db, before: string): Promise<string | undefined> {
  const r = await db.query<{ day: string | null }>(
    '/* retention:oldest-user-day */ SELECT min(day)::text AS day FROM site_daily_users WHERE day < $1::date',
    [before],
  );
  return r.rows[0]?.day ?? undefined;
}

/**
 * Purges one day's per-user rows, keeping each site's distinct count of that day first, in one
 * transaction (rows that arrive for that day later are added to the count at the next pass).
 * Only named visitors' rows are counted: anonymous visitors are counted as their rows go in
 * (site_daily_anon, site_daily_dim_anon), and those counts stay.
 */
export async function purgeUserDay(db: Db, day: string): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query(
      `/* retention:user-counts */ INSERT INTO site_daily_user_counts (site_id, day, users)
       SELECT site_id, day, count(*) FROM site_daily_users WHERE day = $1::date AND user_key NOT LIKE 'h:%' GROUP BY site_id, day
       ON CONFLICT (site_id, day) DO UPDATE SET users = site_daily_user_counts.users + EXCLUDED.users`,
      [day],
    );
    // The dimensions' visitors per value of the day, kept the same way.
    await tx.query(
      `/* retention:dim-user-counts */ INSERT INTO site_daily_dim_user_counts (site_id, day, dim, value, visitors)
       SELECT site_id, day, dim, value, count(*) FROM (
         SELECT site_id, day, dim, value FROM site_daily_dim_users WHERE day = $1::date AND user_key NOT LIKE 'h:%'
         UNION ALL
         SELECT site_id, day, dim, value FROM (
           SELECT DISTINCT site_id, day, d.dim, d.value, user_key FROM site_daily_user_profiles,
             LATERAL (VALUES ('browser', browser), ('os', os), ('device', device), ('country', country)) AS d(dim, value)
             WHERE day = $1::date AND user_key NOT LIKE 'h:%'
         ) p
       ) v GROUP BY site_id, day, dim, value
       ON CONFLICT (site_id, day, dim, value) DO UPDATE SET visitors = site_daily_dim_user_counts.visitors + EXCLUDED.visitors`,
      [day],
    );
    let n = 0;
    for (const table of ['site_daily_users', 'site_daily_user_profiles', 'site_daily_dim_users']) {
      const r = await tx.query(
        `/* retention:user-rows */ DELETE FROM ${table} WHERE day = $1::date`,
        [day],
      );
      n += r.rowCount ?? 0;
    }
    return n;
  });
}

/** Realtime minute buckets older than `before`: they serve the last few minutes only. */
export async function purgeMinutes(db: Db, before: Date): Promise<number> {
  let n = 0;
  for (const table of ['site_minute', 'site_minute_paths', 'site_minute_users']) {
    const r = await db.query(`/* retention:minutes */ DELETE FROM ${table} WHERE minute < $1`, [
      before.toISOString(),
    ]);
    n += r.rowCount ?? 0;
  }
  return n;
}
