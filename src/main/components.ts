import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Db } from '../storage/db.js';
import { createPgDb } from '../storage/pg-db.js';
import { createPgliteDb } from '../storage/pglite-db.js';
import { createTransport, traitsOf } from '../transport/create-transport.js';
import type { Transport } from '../transport/transport.js';

/** PostgreSQL server when DATABASE_URL is set, else embedded PGlite under DATA_DIR. */
export async function openDb(config: Config): Promise<Db> {
  if (config.db.url) {
    return createPgDb({ url: config.db.url, poolSize: config.db.poolSize });
  }
  // Asynchronous commits only when the embedded log holds each batch until a synchronous
  // commit covers it; Redis and Kafka forget a batch once it is acknowledged.
  return createPgliteDb({
    dataDir: config.db.dataDir,
    asyncCommit: traitsOf(config.transport.kind).holdsUntilReleased,
  });
}

export async function openTransport(config: Config, log: Logger): Promise<Transport> {
  return createTransport(config.transport, log);
}

/** VISITOR_SALT, or a random one kept under DATA_DIR so restarts keep counting the same visitors. */
export async function visitorSalt(config: Config): Promise<string> {
  if (config.ingest.visitorSalt) {
    return config.ingest.visitorSalt;
  }
  const file = join(config.dataDir, 'visitor-salt');
  const existing = await readFile(file, 'utf8').catch(() => '');
  if (existing.length >= 32) {
    return existing.trim();
  }
  await mkdir(config.dataDir, { recursive: true });
  const salt = randomBytes(32).toString('hex');
  await writeFile(file, salt, { mode: 0o600 });
  return salt;
}
