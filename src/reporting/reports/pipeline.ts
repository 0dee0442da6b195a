import type { Queryable } from '../../storage/db.js';

/** What was not counted, per reason, over an inclusive UTC date range (or all time). */
export async function dropsByReason(
  db: Queryable,
  from?: string,
  to?: string,
): Promise<Record<string, number>> {
  const r = await db.query<{ reason: string; events: number }>(
    '/* report:drops */ SELECT reason, SUM(events)::int8 AS events FROM drop_ledger WHERE ($1::date IS NULL OR day >= $1::date) AND ($2::date IS NULL OR day <= $2::date) GROUP BY reason ORDER BY reason',
    [from ?? null, to ?? null],
  );
  return Object.fromEntries(r.rows.map((row) => [row.reason, Number(row.events)]));
}

export interface DeadLetter {
  id: number;
  failed_at: string;
  event_id: string | null;
  reason: string;
  payload: string;
}

/** The most recent dead letters, newest first, and how many there are in all. */
export async function deadLetters(
  db: Queryable,
  limit: number,
): Promise<{ total: number; items: DeadLetter[] }> {
  const total = await db.query<{ n: number }>(
    '/* report:dead-letter-count */ SELECT COUNT(*)::int8 AS n FROM dead_letters',
  );
  const r = await db.query<{
    id: number;
    failed_at: Date | string;
    event_id: string | null;
    reason: string;
    payload: string;
  }>(
    '/* report:dead-letters */ SELECT id, failed_at, event_id, reason, payload FROM dead_letters ORDER BY id DESC LIMIT $1',
    [limit],
  );
  return {
    total: Number(total.rows[0]?.n ?? 0),
    items: r.rows.map((row) => ({
      ...row,
      id: Number(row.id),
      failed_at: new Date(row.failed_at).toISOString(),
    })),
  };
}
