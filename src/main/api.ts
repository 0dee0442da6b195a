import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { accessHooks } from '../auth/access.js';
import { adminRoutes } from '../auth/admin.routes.js';
import { openAuth } from '../auth/auth.js';
import { basicAuthHook } from '../auth/basic-auth.js';
import { corsPlugin } from '../auth/cors.js';
import { docsPlugin } from '../http/docs.js';
import { TALLY_VERSION } from '../version.js';
import { compatRoutes, SEED_002_PATHS, seed004ReportingRoutes } from '../compat/compat.js';
import { seed003QueueActionRoutes } from '../compat/seed-003-nestjs/routes.js';
import { buildServer } from '../http/build-server.js';
import { createDropCounter } from '../ingest/drop-counter.js';
import { createIngest } from '../ingest/ingest.js';
import { openCountries } from '../dimensions/country.js';
import { ingestRoutes } from '../ingest/ingest.routes.js';
import { createDeadLetterReplay } from '../ops/dead-letters.js';
import { deadLetterRoutes } from '../ops/dead-letters.routes.js';
import { healthRoutes, type Lifecycle } from '../ops/health.routes.js';
import { metricsRoutes, type Metrics } from '../ops/metrics.js';
import { createRateLimiter } from '../ratelimit/create-rate-limiter.js';
import { INGEST_ROUTE, rateLimitHooks } from '../ratelimit/rate-limit.hook.js';
import { reportingRoutes } from '../reporting/reporting.routes.js';
import { linkSecret } from '../pixels/link-secret.js';
import { linkRoutes } from '../pixels/links.routes.js';
import { PIXEL_ROUTES, pixelRoutes } from '../pixels/pixels.routes.js';
import { loadTracker } from '../tracker/tracker-asset.js';
import { trackerRoutes } from '../tracker/tracker.routes.js';
import { loadDashboard } from '../dashboard/dashboard-assets.js';
import { dashboardRoutes } from '../dashboard/dashboard.routes.js';
import type { Db } from '../storage/db.js';
import type { Transport } from '../transport/transport.js';
import type { Aggregator } from '../aggregate/aggregator.js';
import { openVisitorSalts } from './components.js';

export interface Api {
  app: FastifyInstance;
  /** Seed 004's reporting server on REPORTING_PORT, when that is set. */
  reportingApp: FastifyInstance | undefined;
  /** Stops accepting and finishes in-flight requests; the caller closes what it passed in. */
  close(): Promise<void>;
}

/** What an aggregator-less API process reports as "completed" in seed 003's queue health. */
const NO_AGGREGATOR = { stats: () => ({ counted: 0, duplicates: 0 }) };

/**
 * The edge: ingest, reports, health and the seed routes, publishing to `transport`.
 * Used by `tally serve` (with the in-process aggregator) and `tally api` (without).
 */
export async function startApi(
  config: Config,
  logger: Logger,
  deps: {
    db: Db;
    transport: Transport;
    lifecycle: Lifecycle;
    aggregator?: Aggregator;
    metrics: Metrics;
  },
  opts: { listen?: boolean } = {},
): Promise<Api> {
  const { db, transport, lifecycle } = deps;
  // Read once, before anything is opened: a missing MAXMIND_DB file stops start-up.
  const countries = openCountries(config.ingest.countryDb);
  const drops = createDropCounter(db, logger.child({ component: 'drops' }));
  const salts = await openVisitorSalts(config, db, logger);
  const auth = await openAuth(config, db, logger, drops);
  const ingest = createIngest(
    { transport, drops, gate: auth.gate, countryOf: countries.countryOf },
    {
      maxEventsPerRequest: config.ingest.maxEventsPerRequest,
      minTsMs: config.ingest.minTsMs,
      maxFutureMs: config.ingest.maxFutureMs,
      visitorSalt: salts.saltFor,
    },
  );
  const replay = createDeadLetterReplay({ db, publish: (e) => transport.publish(e), logger });
  const limiter = await createRateLimiter(config.rateLimit, logger);
  const rateLimit = limiter && { limiter, trustedProxies: config.rateLimit.trustedProxies, drops };
  const http = {
    maxBodyBytes: config.http.maxBodyBytes,
    trustedProxies: config.rateLimit.trustedProxies,
    connections: {
      requestTimeoutMs: config.http.requestTimeoutMs,
      headersTimeoutMs: config.http.headersTimeoutMs,
      keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
      maxConnections: config.http.maxConnections,
    },
  };
  // Before the routes they guard: they hook them as they are added.
  const docs = docsPlugin({
    version: TALLY_VERSION,
    seed003: {
      enabled: config.compat.swaggerEnabled,
      ...(config.compat.swagger ? { guard: basicAuthHook(config.compat.swagger, 'Swagger') } : {}),
    },
  });
  const guards = [
    corsPlugin({
      sites: auth.sites,
      maxAgeS: config.auth.corsMaxAgeS,
      overrides: { prefixes: SEED_002_PATHS, origins: config.compat.allowedOrigins },
    }),
    ...(auth.keys ? [accessHooks(auth.keys)] : []),
    ...(rateLimit
      ? [rateLimitHooks(limiter, { ...rateLimit, routes: [INGEST_ROUTE, ...PIXEL_ROUTES] })]
      : []),
  ];
  deps.metrics.attach({ ingest, drops });
  const links = { linkSecret: await linkSecret(db, config.links.secret) };
  const app = await buildServer(logger, http, [
    deps.metrics.httpHooks(),
    docs,
    ...guards,
    metricsRoutes(deps.metrics),
    ingestRoutes(ingest),
    trackerRoutes(await loadTracker()),
    dashboardRoutes(await loadDashboard()),
    pixelRoutes({ ingest, ...links }),
    linkRoutes(links),
    reportingRoutes(db),
    adminRoutes({ db, sites: auth.sites, auth: auth.keys }),
    deadLetterRoutes({ replay }),
    seed003QueueActionRoutes({
      actions: {
        aggregator: deps.aggregator,
        retry: (id) =>
          replay({ filter: id === undefined ? { all: true } : { ids: [id] }, again: false }),
      },
      bullBoard: config.compat.bullBoard,
    }),
    healthRoutes({
      db,
      transport,
      lifecycle,
      ...(deps.aggregator ? { aggregator: deps.aggregator } : {}),
    }),
    ...(await compatRoutes({
      ingest,
      db,
      transport,
      aggregator: deps.aggregator ?? NO_AGGREGATOR,
      rateLimit,
      campaignAccountsFile: config.compat.campaignAccountsFile,
      bullBoard: config.compat.bullBoard,
    })),
  ]);
  // Seed 004 served its reports on a port of their own; its clients keep using it.
  const reportingPort = config.http.reportingPort;
  const reportingApp =
    reportingPort === undefined || (reportingPort !== 0 && reportingPort === config.http.port)
      ? undefined
      : await buildServer(logger, http, [...guards, seed004ReportingRoutes({ db })]);
  if (opts.listen !== false) {
    await app.listen({ port: config.http.port, host: config.http.host });
    await reportingApp?.listen({ port: reportingPort, host: config.http.host });
  } else {
    await app.ready();
    await reportingApp?.ready();
  }
  return {
    app,
    reportingApp,
    async close() {
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
      salts.close();
      await auth.close();
      await limiter?.close();
      await drops.close();
    },
  };
}
