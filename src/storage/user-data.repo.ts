import type { Db } from './db.js';

/** Counts of the rows removed for one user. */
export interface UserDataDeleted {
  unique_user_rows: number;
  dead_letters: number;
}

/**
 * Removes what Tally keeps that names a user: the (site, day, user) rows that count unique
 * users and visitors per dimension value (and realtime's per-minute ones), and the dead letters whose event carries that `user_id`. Counters are anonymous and
 * stay. One transaction.
 */
export async function deleteUserData(
  db: Db,
  userId: string,
  siteId: string | undefined,
): Promise<UserDataDeleted> {
  return db.transaction(async (tx) => {
    let userRows = 0;
    // Every table of per-user rows: unique users, the dimensions' visitors, realtime's. The
    // count reported is the first's (one per site and day), which the API has always given.
    for (const table of [
      'site_daily_users',
      'site_daily_user_profiles',
      'site_daily_dim_users',
      'site_minute_users',
    ]) {
      const r = await tx.query(
        `DELETE FROM ${table} WHERE user_key = $1 AND ($2::text IS NULL OR site_id = $2)`,
        [`u:${userId}`, siteId ?? null],
      );
      if (table === 'site_daily_users') {
        userRows = r.rowCount ?? 0;
      }
    }
    // Payloads are stored as JSON text (or worse: they are what could not be processed), so
    // narrow by the serialised field, then check each parsed payload.
    const candidates = await tx.query<{ id: string; payload: string }>(
      'SELECT id, payload FROM dead_letters WHERE strpos(payload, $1) > 0',
      [`"user_id":${JSON.stringify(userId)}`],
    );
    const ids = candidates.rows
      .filter((r) => {
        const e = parse(r.payload);
        return e?.['user_id'] === userId && (siteId === undefined || e['site_id'] === siteId);
      })
      .map((r) => r.id);
    const dead =
      ids.length === 0
        ? { rowCount: 0 }
        : await tx.query('DELETE FROM dead_letters WHERE id = ANY($1::bigint[])', [ids]);
    return { unique_user_rows: userRows, dead_letters: dead.rowCount ?? 0 };
  });
}

function parse(payload: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(payload);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
