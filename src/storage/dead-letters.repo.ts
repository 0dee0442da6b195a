import type { Queryable } from './db.js';

/** Events that could not be processed, with the reason; written in the batch's transaction. */
export async function addDeadLetters(
  tx: Queryable,
  items: { event: unknown; reason: string }[],
): Promise<void> {
  if (items.length === 0) {
    return;
  }
  await tx.query(
    '/* aggregate:dead-letter */ INSERT INTO dead_letters (event_id, reason, payload) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])',
    [
      items.map((i) => {
        const id = (i.event as { event_id?: unknown } | null)?.event_id;
        return typeof id === 'string' ? id.replace(/\u0000/g, '') : null;
      }),
      items.map((i) => i.reason.replace(/\u0000/g, '')),
      // JSON.stringify escapes NUL as \u0000 text, which a text column accepts.
      items.map((i) => JSON.stringify(i.event) ?? 'undefined'),
    ],
  );
}

/** Which dead letters a replay takes: some ids, those whose reason contains a text, or all. */
export type ReplayFilter = { ids: number[] } | { reason: string } | { all: true };

/**
 * The rows a replay pass may take: ids in (afterId, throughId], not yet replayed unless `again`.
 * `throughId` is fixed when a replay starts, so that the new dead letters of events failing
 * again during it are not taken by the same replay (which could then loop).
 */
export interface ReplayWindow {
  afterId: number;
  throughId: number;
  again: boolean;
}

const REPLAYABLE =
  'id > $1 AND id <= $2 AND ($3::boolean OR replayed_at IS NULL) AND ($4::int8[] IS NULL OR id = ANY($4::int8[])) AND ($5::text IS NULL OR strpos(reason, $5) > 0)';

const replayParams = (f: ReplayFilter, w: ReplayWindow) => [
  w.afterId,
  w.throughId,
  w.again,
  'ids' in f ? f.ids : null,
  'reason' in f ? f.reason : null,
];

/** The newest dead letter's id (0 when there is none). */
export async function newestDeadLetterId(db: Queryable): Promise<number> {
  const r = await db.query<{ id: string | number | null }>(
    '/* ops:dead-letter-newest */ SELECT max(id) AS id FROM dead_letters',
  );
  return Number(r.rows[0]?.id ?? 0);
}

/** How many dead letters `filter` selects in the window. */
export async function countReplayable(
  db: Queryable,
  filter: ReplayFilter,
  w: ReplayWindow,
): Promise<number> {
  const r = await db.query<{ n: string | number }>(
    `/* ops:dead-letter-replayable-count */ SELECT count(*)::int8 AS n FROM dead_letters WHERE ${REPLAYABLE}`,
    replayParams(filter, w),
  );
  return Number(r.rows[0]?.n ?? 0);
}

/** The next `limit` dead letters `filter` selects in the window, in id order. */
export async function replayableBatch(
  db: Queryable,
  filter: ReplayFilter,
  w: ReplayWindow,
  limit: number,
): Promise<{ id: number; payload: string }[]> {
  const r = await db.query<{ id: string | number; payload: string }>(
    `/* ops:dead-letter-replayable */ SELECT id, payload FROM dead_letters WHERE ${REPLAYABLE} ORDER BY id LIMIT $6`,
    [...replayParams(filter, w), limit],
  );
  return r.rows.map((row) => ({ id: Number(row.id), payload: row.payload }));
}

/** Of these ids (up to `throughId`), which exist, each with whether it was replayed already. */
export async function replayStates(
  db: Queryable,
  ids: number[],
  throughId: number,
): Promise<Map<number, boolean>> {
  const r = await db.query<{ id: string | number; replayed: boolean }>(
    '/* ops:dead-letter-states */ SELECT id, replayed_at IS NOT NULL AS replayed FROM dead_letters WHERE id = ANY($1::int8[]) AND id <= $2',
    [ids, throughId],
  );
  return new Map(r.rows.map((row) => [Number(row.id), row.replayed]));
}

/** Marks dead letters as sent back to the log: when (last) and how often. */
export async function markReplayed(db: Queryable, ids: number[]): Promise<void> {
  await db.query(
    '/* ops:dead-letter-replayed */ UPDATE dead_letters SET replayed_at = now(), replays = replays + 1 WHERE id = ANY($1::int8[])',
    [ids],
  );
}
