import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createAggregator, type Aggregator } from '../aggregate/aggregator.js';
import { compatRoutes, seed004ReportingRoutes } from '../compat/compat.js';
import { buildServer } from '../http/build-server.js';
import { createDropCounter } from '../ingest/drop-counter.js';
import { createIngest } from '../ingest/ingest.js';
import { ingestRoutes } from '../ingest/ingest.routes.js';
import { healthRoutes, type Lifecycle } from '../ops/health.routes.js';
import { reportingRoutes } from '../reporting/reporting.routes.js';
import type { Db } from '../storage/db.js';
import { migrate } from '../storage/migrate.js';
import { createRateLimiter } from '../ratelimit/create-rate-limiter.js';
import { rateLimitHooks } from '../ratelimit/rate-limit.hook.js';
import type { Transport } from '../transport/transport.js';
import { openDb, openTransport, visitorSalt } from './components.js';

export interface Running {
  app: FastifyInstance;
  db: Db;
  transport: Transport;
  aggregator: Aggregator;
  /** Seed 004's reporting server on REPORTING_PORT, when that is set. */
  reportingApp: FastifyInstance | undefined;
  /** Stop accepting, finish in-flight requests, drain the log into storage, close everything. */
  close(): Promise<void>;
}

/** `tally serve`: API and aggregator in one process (the default `npm start`). */
export async function serve(config: Config, log: Logger, opts: { listen?: boolean } = {}): Promise<Running> {
  const db = await openDb(config);
  const lifecycle: Lifecycle = { migrated: false, accepting: false };
  const { applied } = await migrate(db);
  lifecycle.migrated = true;
  if (applied.length > 0) {
    log.info({ applied }, 'migrations applied');
  }
  const transport = await openTransport(config, log);
  const drops = createDropCounter(db, log.child({ component: 'drops' }));
  const ingest = createIngest(
    { transport, drops },
    {
      maxEventsPerRequest: config.ingest.maxEventsPerRequest,
      dedupWindowMs: config.ingest.dedupWindowMs,
      maxFutureMs: config.ingest.maxFutureMs,
      visitorSalt: await visitorSalt(config),
    },
  );
  const aggregator = createAggregator({ db, transport, log }, config.aggregator);
  await aggregator.start();
  const limiter = createRateLimiter(config.rateLimit, log);
  const app = await buildServer(log, { maxBodyBytes: config.http.maxBodyBytes }, [
    // Before the routes it guards: it hooks them as they are added.
    ...(limiter ? [rateLimitHooks(limiter, { trustedProxies: config.rateLimit.trustedProxies, drops })] : []),
    ingestRoutes(ingest),
    reportingRoutes(db),
    healthRoutes({ db, transport, lifecycle }),
    ...(await compatRoutes({
      ingest,
      db,
      transport,
      aggregator,
      rateLimit: limiter && { limiter, trustedProxies: config.rateLimit.trustedProxies, drops },
      campaignAccountsFile: config.compat.campaignAccountsFile,
    })),
  ]);
  // Seed 004 served its reports on a port of their own; its clients keep using it.
  const reportingPort = config.http.reportingPort;
  const reportingApp =
    reportingPort === undefined || (reportingPort !== 0 && reportingPort === config.http.port)
      ? undefined
      : await buildServer(log, { maxBodyBytes: config.http.maxBodyBytes }, [seed004ReportingRoutes({ db })]);
  if (opts.listen !== false) {
    await app.listen({ port: config.http.port, host: config.http.host });
    await reportingApp?.listen({ port: reportingPort, host: config.http.host });
  } else {
    await app.ready();
    await reportingApp?.ready();
  }
  lifecycle.accepting = true;
  let closing: Promise<void> | undefined;
  const close = async () => {
    lifecycle.accepting = false;
    const deadline = Date.now() + config.shutdownTimeoutMs;
    // Keep-alive connections busy when close() starts become idle later and would hold the
    // server open until their timeout: close them as they go idle.
    const reaper = setInterval(() => {
      app.server.closeIdleConnections();
      reportingApp?.server.closeIdleConnections();
    }, 50);
    try {
      await Promise.all([app.close(), reportingApp?.close()]);
    } finally {
      clearInterval(reaper);
    }
    await limiter?.close();
    await aggregator.stop({ drainUntil: deadline - 500 });
    await drops.close();
    await transport.close();
    await db.close();
  };
  return { app, db, transport, aggregator, reportingApp, close: () => (closing ??= close()) };
}
