import type { Queryable } from './db.js';

/** Where a log's consumer stands, when the log keeps it in the database (the embedded log). */
export async function saveCheckpoint(tx: Queryable, name: string, position: string): Promise<void> {
  await tx.query(
    '/* aggregate:checkpoint */ INSERT INTO consumer_checkpoints (name, position, updated_at) VALUES ($1, $2, now()) ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()',
    [name, position],
  );
}

export async function loadCheckpoint(db: Queryable, name: string): Promise<string | undefined> {
  const r = await db.query<{ position: string }>(
    'SELECT position FROM consumer_checkpoints WHERE name = $1',
    [name],
  );
  return r.rows[0]?.position;
}
