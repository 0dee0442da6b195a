import type { Queryable } from './db.js';

/**
 * The daily visitor salts (migration 0008), one row per UTC day number. Rows are created, never
 * updated: the first process to insert a day's salt wins and every other one reads it back.
 */

/**
 * Inserts `candidates` (day → a fresh random salt) for the days that have no salt yet, then
 * returns the salt each of those days really has. Two statements, not one: an INSERT … ON
 * CONFLICT DO NOTHING that met another process's concurrent insert waits for it and skips the
 * row, and only a statement started after that (read committed) sees the winner's salt.
 */
export async function ensureVisitorSalts(
  db: Queryable,
  candidates: ReadonlyMap<number, string>,
): Promise<Map<number, string>> {
  const days = [...candidates.keys()];
  if (days.length === 0) {
    return new Map();
  }
  await db.query(
    '/* ingest:visitor-salts-create */ INSERT INTO visitor_salts (day, salt) SELECT * FROM unnest($1::int4[], $2::text[]) ON CONFLICT (day) DO NOTHING',
    [days, days.map((d) => candidates.get(d))],
  );
  const r = await db.query<{ day: number; salt: string }>(
    '/* ingest:visitor-salts-read */ SELECT day, salt FROM visitor_salts WHERE day = ANY($1::int4[])',
    [days],
  );
  return new Map(r.rows.map((row) => [Number(row.day), row.salt]));
}

/** Deletes the salts of the days before `day`; returns how many rows went. */
export async function deleteVisitorSaltsBefore(db: Queryable, day: number): Promise<number> {
  const r = await db.query(
    '/* ingest:visitor-salts-delete */ DELETE FROM visitor_salts WHERE day < $1',
    [day],
  );
  return r.rowCount;
}
