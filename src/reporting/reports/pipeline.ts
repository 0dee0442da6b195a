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

/** One site's drops per reason over event days: the reasons kept per site (bot). */
export async function siteDropsByReason(
  db: Queryable,
  siteId: string,
  from?: string,
  to?: string,
): Promise<Record<string, number>> {
  const r = await db.query<{ events: number | null }>(
    '/* report:site-drops */ SELECT SUM(events)::int8 AS events FROM site_daily_bots WHERE site_id = $1 AND ($2::date IS NULL OR day >= $2::date) AND ($3::date IS NULL OR day <= $3::date)',
    [siteId, from ?? null, to ?? null],
  );
  const bots = Number(r.rows[0]?.events ?? 0);
  return bots > 0 ? { bot: bots } : {};
}

export interface DeadLetter {
  id: number;
  failed_at: string;
  event_id: string | null;
  reason: string;
  payload: string;
  /** When it was last sent back to the log (`tally dead-letters replay`), or null. */
  replayed_at: string | null;
  replays: number;
}

interface DeadLetterRow {
  id: number | string;
  failed_at: Date | string;
  event_id: string | null;
  reason: string;
  payload: string;
  replayed_at: Date | string | null;
  replays: number;
}

const COLUMNS = 'id, failed_at, event_id, reason, payload, replayed_at, replays';

const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({
  ...row,
  id: Number(row.id),
  failed_at: new Date(row.failed_at).toISOString(),
  replayed_at: row.replayed_at === null ? null : new Date(row.replayed_at).toISOString(),
  replays: Number(row.replays),
});

export interface DeadLetterQuery {
  limit: number;
  /** true: only those replayed; false: only those not yet replayed; undefined: all. */
  replayed?: boolean | undefined;
  /** Only those whose reason contains this text. */
  reason?: string | undefined;
}

/** The most recent dead letters, newest first, and how many match in all. */
export async function deadLetters(
  db: Queryable,
  q: DeadLetterQuery,
): Promise<{ total: number; items: DeadLetter[] }> {
  const where =
    'WHERE ($1::boolean IS NULL OR (replayed_at IS NOT NULL) = $1::boolean) AND ($2::text IS NULL OR strpos(reason, $2) > 0)';
  const params = [q.replayed ?? null, q.reason ?? null];
  const total = await db.query<{ n: number }>(
    `/* report:dead-letter-count */ SELECT COUNT(*)::int8 AS n FROM dead_letters ${where}`,
    params,
  );
  const r = await db.query<DeadLetterRow>(
    `/* report:dead-letters */ SELECT ${COLUMNS} FROM dead_letters ${where} ORDER BY id DESC LIMIT $3`,
    [...params, q.limit],
  );
  return { total: Number(total.rows[0]?.n ?? 0), items: r.rows.map(toDeadLetter) };
}

/** One dead letter, or undefined. */
export async function deadLetter(db: Queryable, id: number): Promise<DeadLetter | undefined> {
  const r = await db.query<DeadLetterRow>(
    `/* report:dead-letter */ SELECT ${COLUMNS} FROM dead_letters WHERE id = $1`,
    [id],
  );
  return r.rows[0] && toDeadLetter(r.rows[0]);
}
