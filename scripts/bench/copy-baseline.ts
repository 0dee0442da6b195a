import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createDatabase, dropDatabase } from './services.js';

/**
 * The storage baseline: PostgreSQL's own COPY of the given event ids into a table keyed on
 * them, in one statement, in a throw-away database. Rows per second, commit included.
 */
export async function copyBaseline(
  ids: Iterable<string>,
  tag: string,
): Promise<{ rows: number; seconds: number; rowsPerS: number }> {
  const db = `tally_bench_${tag.replace(/[^a-z0-9]/g, '_')}_copy`;
  const url = await createDatabase(db);
  try {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE TABLE copy_ids (event_id text PRIMARY KEY)');
      // Built before the clock starts, so only PostgreSQL's work is timed.
      const chunks: string[] = [];
      let rows = 0;
      let chunk: string[] = [];
      for (const id of ids) {
        chunk.push(id);
        if (chunk.length === 2000) {
          chunks.push(`${chunk.join('\n')}\n`);
          chunk = [];
        }
        rows++;
      }
      if (chunk.length > 0) {
        chunks.push(`${chunk.join('\n')}\n`);
      }
      const t0 = performance.now();
      await pipeline(
        Readable.from(chunks),
        client.query(copyFrom('COPY copy_ids (event_id) FROM STDIN')),
      );
      const seconds = (performance.now() - t0) / 1000;
      return { rows, seconds, rowsPerS: rows / seconds };
    } finally {
      await client.end();
    }
  } finally {
    await dropDatabase(db);
  }
}
