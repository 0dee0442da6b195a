import { z } from 'zod';
import { parseDate, parseTimestamp } from './events/time.js';

/**
 * The only reader of process.env. Parsed once at start-up; a bad value stops start-up with one
 * line naming the variable and what it takes.
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const EnvSchema = z.object({
  PORT: int(0, 65535).default(3000),
  /** Seed 004 served its reports on a second port; Tally also listens there when it is set. */
  REPORTING_PORT: int(0, 65535).optional(),
  HOST: z.string().min(1).default('0.0.0.0'),
  /** `tally worker` has no HTTP server: set this to serve its /metrics (no key: keep it internal). */
  METRICS_PORT: int(1, 65535).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  DB_POOL_SIZE: int(1, 200).default(10),
  TRANSPORT: z.enum(['embedded', 'redis', 'kafka']).default('embedded'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  REDIS_STREAM: z.string().min(1).max(200).default('tally:events'),
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092'),
  KAFKA_TOPIC: z
    .string()
    .regex(/^[\w.-]{1,249}$/, 'must be a Kafka topic name')
    .default('tally-events'),
  KAFKA_PARTITIONS: int(1, 1024).default(6),
  /** Kafka: a worker silent this long loses its partitions (a live one heartbeats every 3 s, also mid-batch). */
  KAFKA_SESSION_TIMEOUT_MS: int(6000, 300_000).default(10_000),
  LOG_MAX_BACKLOG: int(1, 1_000_000_000).default(1_000_000),
  CONSUMER_GROUP: z.string().min(1).max(200).default('tally-aggregator'),
  /** Redis: a worker whose heartbeat is this old is presumed dead; its pending entries are taken over. */
  RECLAIM_IDLE_MS: int(1000, 3_600_000).default(5_000),
  /** Redis: start on a server without AOF (`appendonly no`), which forgets acknowledged events on a restart. */
  REDIS_ALLOW_NO_PERSISTENCE: z.enum(['true', 'false']).default('false'),
  RATE_LIMIT_WINDOW_MS: int(100, 86_400_000).default(60_000),
  RATE_LIMIT_MAX: int(0, 100_000_000).default(0),
  TRUSTED_PROXIES: z.string().default(''),
  /** A MaxMind-format country database to use instead of the bundled one (dimensions/country.ts). */
  MAXMIND_DB: z
    .string()
    .optional()
    .transform((v) => v || undefined),
  MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /**
   * Connection limits of each HTTP server (PORT and REPORTING_PORT). A whole request, from its
   * first byte, must arrive within REQUEST_TIMEOUT_MS: 10 s carries MAX_BODY_BYTES at 100 KiB/s,
   * far more than a beacon or a batch needs, and bounds what a stalled body holds. Headers within
   * HEADERS_TIMEOUT_MS (slowloris; also a connection that sends nothing). An idle keep-alive
   * connection is closed after KEEP_ALIVE_TIMEOUT_MS: 72 s, above the 60 s idle timeout of
   * common load balancers (AWS ALB, nginx upstream keep-alive), so the balancer closes
   * first and never reuses a connection Tally is closing. MAX_CONNECTIONS (0: none) bounds open
   * sockets per server: an idle one costs about 8 KiB (measured on Node 20), 10,000 about 80 MB.
   */
  REQUEST_TIMEOUT_MS: int(100, 600_000).default(10_000),
  HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  KEEP_ALIVE_TIMEOUT_MS: int(100, 600_000).default(72_000),
  MAX_CONNECTIONS: int(0, 1_000_000).default(10_000),
  MAX_EVENTS_PER_REQUEST: int(1, 100_000).default(1000),
  DEDUP_WINDOW_DAYS: int(1, 365).default(7),
  MAX_FUTURE_MS: int(0, 7 * 24 * 3600 * 1000).default(3600 * 1000),
  /** The oldest event time accepted: a date or an ISO-8601 timestamp with Z or an offset. */
  MIN_EVENT_TS: z
    .string()
    .default('2000-01-01')
    .transform((v, ctx) => {
      const ms = parseDate(v) ?? parseTimestamp(v);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be a date (YYYY-MM-DD) or an ISO-8601 timestamp after 1970-01-01',
        });
        return z.NEVER;
      }
      return ms;
    }),
  /** Days dead letters (payloads with user ids and URLs) are kept; 0: forever. */
  DEAD_LETTER_RETENTION_DAYS: int(0, 36_500).default(30),
  /** Days the per-user rows behind exact unique users are kept; 0: forever. */
  USER_ROWS_RETENTION_DAYS: int(0, 36_500).default(0),
  /** Events from a bot's user agent: left out of every report and counted as drop `bot`, or `count`ed like people. */
  BOTS: z.enum(['drop', 'count']).default('drop'),
  AGG_BATCH_MAX_EVENTS: int(1, 100_000).default(5000),
  AGG_BATCH_MAX_WAIT_MS: int(0, 10_000).default(100),
  AGG_CONCURRENCY: int(1, 16).default(2),
  LOG_SEGMENT_BYTES: int(64 * 1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  LOG_MAX_PENDING_BYTES: int(1024 * 1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  LOG_MAX_UNCONSUMED_BYTES: int(1024 * 1024, 1024 * 1024 * 1024 * 1024).default(1024 * 1024 * 1024),
  /** Free bytes the embedded log leaves on DATA_DIR's volume for the database (ingest gets 503 below). */
  LOG_DISK_RESERVE_BYTES: int(0, 1024 * 1024 * 1024 * 1024).default(16 * 1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),
  VISITOR_SALT: z.string().min(16, 'must be at least 16 characters').optional(),
  /** `off`: every route open and no key checked (the open mode of the services Tally replaces). */
  AUTH: z.enum(['on', 'off']).default('on'),
  /** An admin key to accept (stored hashed): for deployments that provision it, instead of the generated one. */
  ADMIN_KEY: z
    .string()
    .regex(/^tally_[0-9a-z]{10}_[A-Za-z0-9_-]{43}$/, 'must be a key made by `tally keys create`')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  /** Events for a site id not in the registry: taken (`accept`) or refused with 403 (`refuse`). */
  UNREGISTERED_SITES: z.enum(['accept', 'refuse']).default('accept'),
  /** Failed keys from one address per minute before it is refused (429) until the minute ends. */
  AUTH_MAX_FAILURES: int(1, 100_000).default(20),
  /** How long a browser may cache a CORS preflight answer (Access-Control-Max-Age). */
  CORS_MAX_AGE_S: int(0, 86_400).default(7200),
  /** Seed 002: CORS allowed origins of its pixel routes (comma-separated). */
  ALLOWED_ORIGINS: z.string().default(''),
  /** Seed 003: its API documentation page at /api (`false`: none; /docs stays). */
  SWAGGER_ENABLED: z.enum(['true', 'false']).default('true'),
  /** Seed 003: basic auth on its API documentation page. */
  SWAGGER_USER: z.string().min(1).optional(),
  SWAGGER_PASSWORD: z.string().min(1).optional(),
  /** Seed 003: basic auth on its queue page. */
  BULL_BOARD_USER: z.string().min(1).optional(),
  BULL_BOARD_PASSWORD: z.string().min(1).optional(),
  /** Seed 002: JSON file `{ "<campaign_id>": "<account_id>" }` giving its pixels their account. */
  CAMPAIGN_ACCOUNTS_FILE: z.string().min(1).optional(),
  /** The secret signing click links (`GET /c`); default: one made once and kept in the database. */
  LINK_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  readonly http: {
    port: number;
    host: string;
    maxBodyBytes: number;
    reportingPort: number | undefined;
    /** `tally worker`: where it serves /metrics (an API process serves it on PORT). */
    metricsPort: number | undefined;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    /** 0: no limit. */
    maxConnections: number;
  };
  readonly ingest: {
    maxEventsPerRequest: number;
    minTsMs: number;
    maxFutureMs: number;
    visitorSalt: string | undefined;
    /** MAXMIND_DB: the country database's path; undefined: the bundled one. */
    countryDb: string | undefined;
  };
  readonly logging: { level: Env['LOG_LEVEL'] };
  readonly auth: {
    enabled: boolean;
    adminKey: string | undefined;
    /** Where the first start writes the admin key it made (owner-only). */
    adminKeyFile: string;
    unregisteredSites: 'accept' | 'refuse';
    maxFailuresPerMinute: number;
    corsMaxAgeS: number;
  };
  readonly dataDir: string;
  readonly db: { url: string | undefined; poolSize: number; dataDir: string };
  readonly transport: {
    kind: Env['TRANSPORT'];
    dir: string;
    segmentBytes: number;
    maxPendingBytes: number;
    maxUnconsumedBytes: number;
    diskReserveBytes: number;
    redisUrl: string | undefined;
    redisStream: string;
    kafkaBrokers: string[];
    kafkaTopic: string;
    kafkaPartitions: number;
    kafkaSessionTimeoutMs: number;
    consumerGroup: string;
    reclaimIdleMs: number;
    redisAllowNoPersistence: boolean;
    maxBacklog: number;
  };
  /** `max` 0 disables rate limiting. Shared through Redis when `redisUrl` is set. */
  readonly rateLimit: {
    windowMs: number;
    max: number;
    redisUrl: string | undefined;
    trustedProxies: string[];
  };
  readonly aggregator: {
    batchMaxEvents: number;
    batchMaxWaitMs: number;
    concurrency: number;
    dedupWindowMs: number;
    retention: { deadLetterDays: number; userRowDays: number };
    bots: 'drop' | 'count';
  };
  readonly shutdownTimeoutMs: number;
  /** Signed click links: the secret, when LINK_SECRET sets it (else the database's). */
  readonly links: { secret: string | undefined };
  readonly compat: {
    campaignAccountsFile: string | undefined;
    /** Seed 002's CORS origins (empty: the edge's own CORS rules). */
    allowedOrigins: string[];
    /** Seed 003's documentation page at /api, and its basic-auth pages. */
    swaggerEnabled: boolean;
    swagger: Credentials | undefined;
    bullBoard: Credentials | undefined;
  };
}

export interface Credentials {
  user: string;
  password: string;
}

export class ConfigError extends Error {}

const list = (v: string) =>
  v
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);

/** Both or neither: one without the other would leave a page open by mistake. */
function credentials(
  prefix: string,
  user: string | undefined,
  password: string | undefined,
): Credentials | undefined {
  if ((user === undefined) !== (password === undefined)) {
    throw new ConfigError(`invalid ${prefix}_USER/${prefix}_PASSWORD: set both or neither`);
  }
  return user === undefined ? undefined : { user, password: password! };
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`invalid ${name}=${JSON.stringify(env[name])}: ${issue.message}`);
  }
  const e = parsed.data;
  const dedupWindowMs = e.DEDUP_WINDOW_DAYS * 86_400_000;
  if (e.TRANSPORT === 'redis' && !e.REDIS_URL) {
    throw new ConfigError('invalid TRANSPORT="redis": needs REDIS_URL (redis://host:port)');
  }
  if (e.TRANSPORT === 'redis' && e.AGG_BATCH_MAX_WAIT_MS * 2 > e.RECLAIM_IDLE_MS) {
    // A lingering batch holds its entries without a keep-alive: another worker would take them.
    throw new ConfigError(
      `invalid AGG_BATCH_MAX_WAIT_MS=${e.AGG_BATCH_MAX_WAIT_MS}: must be at most half of RECLAIM_IDLE_MS (${e.RECLAIM_IDLE_MS})`,
    );
  }
  if (e.HEADERS_TIMEOUT_MS > e.REQUEST_TIMEOUT_MS) {
    // The request timeout counts from the first byte of the headers: it includes them.
    throw new ConfigError(
      `invalid HEADERS_TIMEOUT_MS=${e.HEADERS_TIMEOUT_MS}: must be at most REQUEST_TIMEOUT_MS (${e.REQUEST_TIMEOUT_MS}), which includes the headers`,
    );
  }
  if (e.DATABASE_URL && e.AGG_CONCURRENCY >= e.DB_POOL_SIZE) {
    throw new ConfigError(
      `invalid AGG_CONCURRENCY=${e.AGG_CONCURRENCY}: must be below DB_POOL_SIZE (${e.DB_POOL_SIZE}), which reports share`,
    );
  }
  return Object.freeze({
    http: {
      port: e.PORT,
      host: e.HOST,
      maxBodyBytes: e.MAX_BODY_BYTES,
      reportingPort: e.REPORTING_PORT,
      metricsPort: e.METRICS_PORT,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.MAX_CONNECTIONS,
    },
    ingest: {
      maxEventsPerRequest: e.MAX_EVENTS_PER_REQUEST,
      minTsMs: e.MIN_EVENT_TS,
      maxFutureMs: e.MAX_FUTURE_MS,
      visitorSalt: e.VISITOR_SALT,
      countryDb: e.MAXMIND_DB,
    },
    logging: { level: e.LOG_LEVEL },
    auth: {
      enabled: e.AUTH === 'on',
      adminKey: e.ADMIN_KEY,
      adminKeyFile: `${e.DATA_DIR}/admin.key`,
      unregisteredSites: e.UNREGISTERED_SITES,
      maxFailuresPerMinute: e.AUTH_MAX_FAILURES,
      corsMaxAgeS: e.CORS_MAX_AGE_S,
    },
    dataDir: e.DATA_DIR,
    db: { url: e.DATABASE_URL, poolSize: e.DB_POOL_SIZE, dataDir: `${e.DATA_DIR}/pg` },
    transport: {
      kind: e.TRANSPORT,
      dir: `${e.DATA_DIR}/log`,
      segmentBytes: e.LOG_SEGMENT_BYTES,
      maxPendingBytes: e.LOG_MAX_PENDING_BYTES,
      maxUnconsumedBytes: e.LOG_MAX_UNCONSUMED_BYTES,
      diskReserveBytes: e.LOG_DISK_RESERVE_BYTES,
      redisUrl: e.REDIS_URL,
      redisStream: e.REDIS_STREAM,
      kafkaBrokers: list(e.KAFKA_BROKERS),
      kafkaTopic: e.KAFKA_TOPIC,
      kafkaPartitions: e.KAFKA_PARTITIONS,
      kafkaSessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
      consumerGroup: e.CONSUMER_GROUP,
      reclaimIdleMs: e.RECLAIM_IDLE_MS,
      redisAllowNoPersistence: e.REDIS_ALLOW_NO_PERSISTENCE === 'true',
      maxBacklog: e.LOG_MAX_BACKLOG,
    },
    rateLimit: {
      windowMs: e.RATE_LIMIT_WINDOW_MS,
      max: e.RATE_LIMIT_MAX,
      redisUrl: e.REDIS_URL,
      trustedProxies: list(e.TRUSTED_PROXIES),
    },
    aggregator: {
      batchMaxEvents: e.AGG_BATCH_MAX_EVENTS,
      batchMaxWaitMs: e.AGG_BATCH_MAX_WAIT_MS,
      concurrency: e.AGG_CONCURRENCY,
      dedupWindowMs,
      retention: {
        deadLetterDays: e.DEAD_LETTER_RETENTION_DAYS,
        userRowDays: e.USER_ROWS_RETENTION_DAYS,
      },
      bots: e.BOTS,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    links: { secret: e.LINK_SECRET },
    compat: {
      campaignAccountsFile: e.CAMPAIGN_ACCOUNTS_FILE,
      allowedOrigins: list(e.ALLOWED_ORIGINS),
      swaggerEnabled: e.SWAGGER_ENABLED === 'true',
      swagger: credentials('SWAGGER', e.SWAGGER_USER, e.SWAGGER_PASSWORD),
      bullBoard: credentials('BULL_BOARD', e.BULL_BOARD_USER, e.BULL_BOARD_PASSWORD),
    },
  });
}
