/**
 * Creates the embedded database in the directory given as the only argument, then exits.
 * pglite-db.ts runs it as a child process on a first start (see there for why).
 */
import { PGlite } from '@electric-sql/pglite';
import { pgliteStartParams } from './pglite-settings.js';

const dataDir = process.argv[2];
if (!dataDir) {
  throw new Error('usage: pglite-init <data directory>');
}
const db = await PGlite.create(dataDir, {
  startParams: [...PGlite.defaultStartParams, ...pgliteStartParams()],
});
await db.close();
