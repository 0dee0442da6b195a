import type { Queryable } from './db.js';

/**
 * Install-wide settings (migration 0012), one row per name. A row is created once and never
 * updated: the first process to insert it wins and every other one reads the winner's value.
 */

/**
 * The setting's value, inserting `candidate` when there is none yet. Two statements, not one:
 * an INSERT … ON CONFLICT DO NOTHING that met another process's concurrent insert waits for it
 * and skips the row, and only a statement started after that (read committed) sees the winner.
 */
export async function ensureSetting(
  db: Queryable,
  name: string,
  candidate: string,
): Promise<string> {
  await db.query(
    '/* settings:create */ INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
    [name, candidate],
  );
  const r = await db.query<{ value: string }>(
    '/* settings:read */ SELECT value FROM settings WHERE name = $1',
    [name],
  );
  const row = r.rows[0];
  if (row === undefined) {
    throw new Error(`setting ${name} vanished after it was created`);
  }
  return row.value;
}
