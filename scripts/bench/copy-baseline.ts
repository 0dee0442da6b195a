import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { createDatabase, throwawayName, withClient } from '../../test/harness/databases.js';
import { SERVICES } from './services.js';

export interface CopyOutcome {
  rows: number;
  seconds: number;
  rowsPerS: number;
}

/**
 * The storage baseline: PostgreSQL's own COPY of the given event ids into a table keyed on
 * them, in one statement, in a throw-away database. Rows per second, commit included.
 */
export async function copyBaseline(ids: Iterable<string>, tag: string): Promise<CopyOutcome> {
  return copyRows(ids, tag, {
    db: 'copy',
    ddl: 'CREATE TABLE copy_ids (event_id text PRIMARY KEY)',
    copy: 'COPY copy_ids (event_id) FROM STDIN',
  });
}

/**
 * COPY of rows already in COPY's text format (one line each, tab-separated, no newline) into the
 * table `spec.ddl` creates, in a throw-away database `tally_bench_<tag>_<spec.db>`, in one
 * statement. Only PostgreSQL's work is timed: the text is built before the clock starts.
 */
export async function copyRows(
  lines: Iterable<string>,
  tag: string,
  spec: { db: string; ddl: string; copy: string },
): Promise<CopyOutcome> {
  const db = await createDatabase(SERVICES.pgAdminUrl, throwawayName('bench', `${tag}_${spec.db}`));
  try {
    return await withClient({ connectionString: db.url }, async (client) => {
      await client.query(spec.ddl);
      const chunks: string[] = [];
      let rows = 0;
      let chunk: string[] = [];
      for (const line of lines) {
        chunk.push(line);
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
      await pipeline(Readable.from(chunks), client.query(copyFrom(spec.copy)));
      const seconds = (performance.now() - t0) / 1000;
      return { rows, seconds, rowsPerS: rows / seconds };
    });
  } finally {
    await db.drop();
  }
}
