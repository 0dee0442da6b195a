/**
 * Creates the embedded database in the directory given as the only argument and applies the
 * migrations, then exits. pglite-db.ts runs it as a child process on a first start (see there
 * for why): the catalog work of creating some 40 tables leaves PGlite's WASM memory grown by
 * about 20 MB, which a WASM memory never gives back, so it is done where it is thrown away.
 */
import { PGlite } from '@electric-sql/pglite';
import type { Db, QueryResult } from './db.js';
import { migrate } from './migrate.js';
import { pgliteStartParams } from './pglite-settings.js';

const dataDir = process.argv[2];
if (!dataDir) {
  throw new Error('usage: pglite-init <data directory>');
}
const pg = await PGlite.create(dataDir, {
  startParams: [...PGlite.defaultStartParams, ...pgliteStartParams()],
});
await pg.exec("SET TIME ZONE 'UTC'");
const query = async <T>(q: Pick<PGlite, 'query'>, sql: string, params?: unknown[]) => {
  const r = await q.query<T>(sql, params);
  return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length } as QueryResult<T>;
};
const db: Db = {
  kind: 'pglite',
  query: (sql, params) => query(pg, sql, params),
  transaction: (fn) =>
    pg.transaction((tx) => fn({ query: (sql, params) => query(tx, sql, params) })),
  ping: () => Promise.resolve(true),
  writeState: () => ({ writable: true, at: undefined }),
  probeWrite: () => Promise.resolve(),
  reopens: () => 0,
  close: () => pg.close(),
};
await migrate(db);
await pg.close();
