import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createAggregator, type Aggregator } from '../aggregate/aggregator.js';
import type { Lifecycle } from '../ops/health.routes.js';
import type { Db } from '../storage/db.js';
import { migrate } from '../storage/migrate.js';
import type { Transport } from '../transport/transport.js';
import { startApi } from './api.js';
import { openDb, openTransport } from './components.js';

export interface Running {
  app: FastifyInstance | undefined;
  db: Db;
  transport: Transport;
  aggregator: Aggregator | undefined;
  /** Seed 004's reporting server on REPORTING_PORT, when that is set. */
  reportingApp: FastifyInstance | undefined;
  /** Stop accepting, finish in-flight requests, drain the log into storage, close everything. */
  close(): Promise<void>;
}

export type Role = 'serve' | 'api' | 'worker';

/**
 * `serve`: API and aggregator in one process (the default `npm start`);
 * `api`: the edge only; `worker`: the aggregator only. Closes in reverse order of opening.
 */
export async function start(
  role: Role,
  config: Config,
  log: Logger,
  opts: { listen?: boolean } = {},
): Promise<Running> {
  const db = await openDb(config);
  const lifecycle: Lifecycle = { migrated: false, accepting: false };
  try {
    const { applied } = await migrate(db);
    if (applied.length > 0) {
      log.info({ applied }, 'migrations applied');
    }
  } catch (err) {
    await db.close();
    throw err;
  }
  lifecycle.migrated = true;
  const transport = await openTransport(config, log);
  let aggregator: Aggregator | undefined;
  if (role !== 'api') {
    aggregator = createAggregator({ db, transport, logger: log }, config.aggregator);
    await aggregator.start();
  }
  const api =
    role === 'worker'
      ? undefined
      : await startApi(
          config,
          log,
          { db, transport, lifecycle, ...(aggregator ? { aggregator } : {}) },
          opts,
        );
  lifecycle.accepting = true;
  let closing: Promise<void> | undefined;
  const close = async () => {
    lifecycle.accepting = false;
    const deadline = Date.now() + config.shutdownTimeoutMs;
    await api?.close();
    // The embedded log lives in this process: drain it into storage before closing. A broker
    // keeps what is left for the next worker.
    const drain = transport.traits.inProcess ? { drainUntil: deadline - 500 } : {};
    await aggregator?.stop(drain);
    await transport.close();
    await db.close();
  };
  return {
    app: api?.app,
    reportingApp: api?.reportingApp,
    db,
    transport,
    aggregator,
    close: () => (closing ??= close()),
  };
}

export type Serving = Running & { app: FastifyInstance; aggregator: Aggregator };

/** `tally serve`: both halves in this process. */
export async function serve(
  config: Config,
  log: Logger,
  opts: { listen?: boolean } = {},
): Promise<Serving> {
  const running = await start('serve', config, log, opts);
  const { app, aggregator } = running;
  if (!app || !aggregator) {
    throw new Error('serve starts both the API and the aggregator');
  }
  return { ...running, app, aggregator };
}
