import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createAggregator, type Aggregator } from '../aggregate/aggregator.js';
import type { Lifecycle } from '../ops/health.routes.js';
import type { Db } from '../storage/db.js';
import { migrate } from '../storage/migrate.js';
import type { Transport } from '../transport/transport.js';
import { createMetrics } from '../ops/metrics.js';
import { serveMetrics } from '../ops/metrics-server.js';
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
 * `api`: the edge only; `worker`: the aggregator only.
 * The one place that builds the parts, in order: storage, its schema, the event log, the
 * aggregator, the edge. Each part's closer is stacked as it opens, so a failure half way and a
 * shutdown both close what is open, in reverse.
 */
export async function start(
  role: Role,
  config: Config,
  logger: Logger,
  opts: { listen?: boolean } = {},
): Promise<Running> {
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of closers.splice(0).reverse()) {
      await c();
    }
  };
  const lifecycle: Lifecycle = { migrated: false, accepting: false };
  let edgeIsUp!: () => void;
  const edgeUp = new Promise<void>((resolve) => (edgeIsUp = resolve));
  let shutdownDeadline = Infinity;
  try {
    // The log opens while the database starts (the embedded one's thread replays its WAL and
    // is busy for a while after): a restart after kill -9 is ready sooner.
    const opening = Promise.allSettled([openDb(config, logger), openTransport(config, logger)]);
    // And the edge's modules load meanwhile (fastify and the routes: a few hundred ms).
    const apiModule = role === 'worker' ? undefined : import('./api.js');
    apiModule?.catch(() => undefined); // awaited below; a failed start must not leave it unhandled
    const [opened, logOpened] = await opening;
    for (const o of [opened, logOpened]) {
      if (o.status === 'fulfilled') {
        closers.push(() => o.value.close());
      }
    }
    if (opened.status === 'rejected') {
      throw opened.reason;
    }
    if (logOpened.status === 'rejected') {
      throw logOpened.reason;
    }
    const db = opened.value;
    const transport = logOpened.value;
    const { applied } = await migrate(db);
    if (applied.length > 0) {
      logger.info({ applied }, 'migrations applied');
    }
    lifecycle.migrated = true;
    const metrics = createMetrics({ db, log: transport });
    let aggregator: Aggregator | undefined;
    if (role !== 'api') {
      const agg = createAggregator(
        { db, transport, logger, onBatch: (n, sec) => metrics.observeBatch(n, sec) },
        config.aggregator,
      );
      aggregator = agg;
      metrics.attach({ aggregator: agg });
      // Batches wait until the edge is up: a backlog's would otherwise hold the embedded
      // database's one thread while the edge loads its sites, keys and salts from it.
      await agg.start({ holdBatchesUntil: edgeUp });
      // The embedded log lives in this process: drain it into storage before closing. A
      // broker keeps what is left for the next worker.
      closers.push(() =>
        agg.stop(transport.traits.inProcess ? { drainUntil: shutdownDeadline - 500 } : {}),
      );
    }
    const edge = await apiModule;
    const api =
      edge &&
      (await edge.startApi(
        config,
        logger,
        { db, transport, lifecycle, metrics, ...(aggregator ? { aggregator } : {}) },
        opts,
      ));
    if (api) {
      closers.push(() => api.close());
    } else if (config.http.metricsPort !== undefined) {
      const server = await serveMetrics(metrics, config.http.host, config.http.metricsPort, {
        requestTimeoutMs: config.http.requestTimeoutMs,
        headersTimeoutMs: config.http.headersTimeoutMs,
        keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
        maxConnections: config.http.maxConnections,
      });
      closers.push(() => server.close());
    }
    edgeIsUp();
    lifecycle.accepting = true;
    let closing: Promise<void> | undefined;
    const close = () => {
      lifecycle.accepting = false;
      shutdownDeadline = Date.now() + config.shutdownTimeoutMs;
      return closeAll();
    };
    return {
      app: api?.app,
      reportingApp: api?.reportingApp,
      db,
      transport,
      aggregator,
      close: () => (closing ??= close()),
    };
  } catch (err) {
    await closeAll().catch((e: unknown) => logger.warn({ err: e }, 'closing after a failed start'));
    throw err;
  }
}

export type Serving = Running & { app: FastifyInstance; aggregator: Aggregator };

/** `tally serve`: both halves in this process. */
export async function serve(
  config: Config,
  logger: Logger,
  opts: { listen?: boolean } = {},
): Promise<Serving> {
  const running = await start('serve', config, logger, opts);
  const { app, aggregator } = running;
  if (!app || !aggregator) {
    throw new Error('serve starts both the API and the aggregator');
  }
  return { ...running, app, aggregator };
}
