import { z } from 'zod';

/**
 * The only reader of process.env. Parsed once at start-up; a bad value stops start-up with one
 * line naming the variable and what it takes.
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const EnvSchema = z.object({
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATA_DIR: z.string().min(1).default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  DB_POOL_SIZE: int(1, 200).default(10),
  TRANSPORT: z.enum(['embedded']).default('embedded'),
  MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  MAX_EVENTS_PER_REQUEST: int(1, 100_000).default(1000),
  DEDUP_WINDOW_DAYS: int(1, 365).default(7),
  MAX_FUTURE_MS: int(0, 7 * 24 * 3600 * 1000).default(3600 * 1000),
  AGG_BATCH_MAX_EVENTS: int(1, 100_000).default(5000),
  LOG_SEGMENT_BYTES: int(64 * 1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  LOG_MAX_PENDING_BYTES: int(1024 * 1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  LOG_MAX_UNCONSUMED_BYTES: int(1024 * 1024, 1024 * 1024 * 1024 * 1024).default(1024 * 1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),
  VISITOR_SALT: z.string().min(16, 'must be at least 16 characters').optional(),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  readonly http: { port: number; host: string; maxBodyBytes: number };
  readonly ingest: {
    maxEventsPerRequest: number;
    dedupWindowMs: number;
    maxFutureMs: number;
    visitorSalt: string | undefined;
  };
  readonly log: { level: Env['LOG_LEVEL'] };
  readonly dataDir: string;
  readonly db: { url: string | undefined; poolSize: number; dataDir: string };
  readonly transport: {
    kind: Env['TRANSPORT'];
    dir: string;
    segmentBytes: number;
    maxPendingBytes: number;
    maxUnconsumedBytes: number;
  };
  readonly aggregator: { batchMaxEvents: number; dedupWindowMs: number };
  readonly shutdownTimeoutMs: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`invalid ${name}=${JSON.stringify(env[name])}: ${issue.message}`);
  }
  const e = parsed.data;
  const dedupWindowMs = e.DEDUP_WINDOW_DAYS * 86_400_000;
  return Object.freeze({
    http: { port: e.PORT, host: e.HOST, maxBodyBytes: e.MAX_BODY_BYTES },
    ingest: {
      maxEventsPerRequest: e.MAX_EVENTS_PER_REQUEST,
      dedupWindowMs,
      maxFutureMs: e.MAX_FUTURE_MS,
      visitorSalt: e.VISITOR_SALT,
    },
    log: { level: e.LOG_LEVEL },
    dataDir: e.DATA_DIR,
    db: { url: e.DATABASE_URL, poolSize: e.DB_POOL_SIZE, dataDir: `${e.DATA_DIR}/pg` },
    transport: {
      kind: e.TRANSPORT,
      dir: `${e.DATA_DIR}/log`,
      segmentBytes: e.LOG_SEGMENT_BYTES,
      maxPendingBytes: e.LOG_MAX_PENDING_BYTES,
      maxUnconsumedBytes: e.LOG_MAX_UNCONSUMED_BYTES,
    },
    aggregator: { batchMaxEvents: e.AGG_BATCH_MAX_EVENTS, dedupWindowMs },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  });
}
