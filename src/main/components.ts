import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createVisitorSalts, saltStoreOf, type VisitorSalts } from '../ingest/visitor-salts.js';
import type { Db } from '../storage/db.js';
import { createPgliteDb } from '../storage/pglite-db.js';
import { createTransport, traitsOf } from '../transport/create-transport.js';
import type { Transport } from '../transport/transport.js';

/** PostgreSQL server when DATABASE_URL is set, else embedded PGlite under DATA_DIR. */
export async function openDb(config: Config, logger?: Logger): Promise<Db> {
  if (config.db.url) {
    // pg is loaded only for a PostgreSQL server (3 MB of heap in the embedded default).
    const { createPgDb } = await import('../storage/pg-db.js');
    return createPgDb({ url: config.db.url, poolSize: config.db.poolSize });
  }
  // Asynchronous commits only when the embedded log holds each batch until a synchronous
  // commit covers it; Redis and Kafka forget a batch once it is acknowledged.
  return createPgliteDb({
    dataDir: config.db.dataDir,
    asyncCommit: traitsOf(config.transport.kind).holdsUntilReleased,
    ...(logger ? { logger } : {}),
  });
}

export async function openTransport(config: Config, logger: Logger): Promise<Transport> {
  return createTransport(config.transport, logger);
}

/**
 * The cookieless visitor hash's daily salts, shared through the database (migrated before this)
 * and loaded before the API takes traffic. VISITOR_SALT, when set, is mixed in as a pepper. The
 * permanent DATA_DIR/visitor-salt file of earlier versions is neither read nor written any more.
 */
export async function openVisitorSalts(
  config: Config,
  db: Db,
  logger: Logger,
): Promise<VisitorSalts> {
  return createVisitorSalts({
    store: saltStoreOf(db),
    logger: logger.child({ component: 'visitor-salts' }),
    pepper: config.ingest.visitorSalt,
  });
}
