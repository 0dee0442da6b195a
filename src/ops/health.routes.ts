import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Db } from '../storage/db.js';
import type { LogStats, Transport } from '../transport/transport.js';
import { withTimeout } from '../timeout.js';

/** What start-up and shutdown tell the readiness probe. */
export interface Lifecycle {
  migrated: boolean;
  accepting: boolean;
}

/** What health needs of the aggregator (AggregatorStats has these). */
export interface ConsumerView {
  stats(): {
    lastBatchAt: number | undefined;
    lastError: string | undefined;
    paused: boolean;
  };
}

/** Nothing written for this long: a write probe asks storage whether it still can. */
const PROBE_AFTER_MS = 10_000;
/** At most one probe this often while storage fails. */
const PROBE_EVERY_MS = 1_000;
/** A probe that takes longer says "cannot write" (it goes on; the next request sees how it ended). */
const PROBE_WAIT_MS = 2_000;
/** Events waiting and no batch applied for this long: the consumer is stalled. */
export const STALL_MS = 30_000;

const Dep = Type.Object({
  status: Type.String(),
  waiting: Type.Optional(Type.Integer({ minimum: 0 })),
  bytes: Type.Optional(Type.Integer({ minimum: 0 })),
  writable: Type.Optional(Type.Boolean()),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
  last_write_at: Type.Optional(Type.String()),
});
const Consumer = Type.Object({
  status: Type.Union([
    Type.Literal('up'),
    Type.Literal('paused'),
    Type.Literal('failing'),
    Type.Literal('stalled'),
  ]),
  paused: Type.Boolean(),
  last_batch_at: Type.Union([Type.String(), Type.Null()]),
  last_error: Type.Optional(Type.String({ maxLength: 1000 })),
});
/** The union of seed 000's `{ ok }` and seed 002's health body, plus each dependency. */
const HealthReply = Type.Object({
  ok: Type.Boolean(),
  status: Type.String(),
  service: Type.String(),
  timestamp: Type.String(),
  database: Type.String(),
  uptime: Type.Number(),
  uptime_s: Type.Number(),
  dependencies: Type.Object({ storage: Dep, log: Dep, consumer: Type.Optional(Consumer) }),
  lag: Type.Integer({ minimum: 0 }),
  log_lost: Type.Object({
    incidents: Type.Integer({ minimum: 0 }),
    events: Type.Integer({ minimum: 0 }),
    last_at: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
  }),
});
const ReadyReply = Type.Object({
  ready: Type.Boolean(),
  migrated: Type.Boolean(),
  log_open: Type.Boolean(),
  log_writable: Type.Boolean(),
  storage_writable: Type.Boolean(),
  accepting: Type.Boolean(),
});

const iso = (ms: number) => new Date(ms).toISOString();
const cut = (s: string) => s.slice(0, 1000);
const logWritable = (s: LogStats) => s.state === 'up' && s.writable !== false;

/**
 * `GET /health` (liveness and each dependency; seeds 000 and 002 read it too) and `GET /ready`
 * (this instance can take events and, where its aggregator runs, store them).
 */
export function healthRoutes(deps: {
  db: Db;
  transport: Transport;
  lifecycle: Lifecycle;
  /** The in-process aggregator (`tally serve`); absent in `tally api`. */
  aggregator?: ConsumerView;
}) {
  const started = Date.now();
  const storageWritable = createWriteCheck(deps.db);
  return async (app: FastifyInstance) => {
    app.get(
      '/health',
      { schema: { response: { 200: HealthReply, 503: HealthReply } } },
      async (_req, reply) => {
        const [up, storage] = await Promise.all([deps.db.ping(), storageWritable()]);
        const eventLog = deps.transport.stats();
        const now = Date.now();
        const consumer = deps.aggregator && consumerState(deps.aggregator, eventLog, started, now);
        const ok =
          up &&
          storage.writable &&
          logWritable(eventLog) &&
          consumer?.status !== 'stalled' &&
          consumer?.status !== 'failing';
        const lost = eventLog.lost;
        return reply.code(ok ? 200 : 503).send({
          ok,
          status: ok ? 'healthy' : 'unhealthy',
          service: 'tally',
          timestamp: iso(now),
          database: up ? 'connected' : 'disconnected',
          uptime: Math.round((now - started) / 10) / 100,
          uptime_s: Math.round((now - started) / 1000),
          dependencies: {
            storage: {
              status: up ? 'up' : 'down',
              writable: storage.writable,
              ...(storage.at === undefined ? {} : { last_write_at: iso(storage.at) }),
              ...(storage.error === undefined ? {} : { reason: cut(storage.error) }),
            },
            log: {
              status: eventLog.state,
              waiting: eventLog.waiting,
              ...(eventLog.bytes === undefined ? {} : { bytes: eventLog.bytes }),
              writable: logWritable(eventLog),
              ...(eventLog.reason === undefined ? {} : { reason: cut(eventLog.reason) }),
            },
            ...(consumer ? { consumer } : {}),
          },
          lag: eventLog.waiting,
          log_lost: lost
            ? {
                incidents: lost.incidents,
                events: lost.events,
                last_at: iso(lost.lastAt),
                reason: cut(lost.reason),
              }
            : { incidents: 0, events: 0 },
        });
      },
    );
    app.get(
      '/ready',
      { schema: { response: { 200: ReadyReply, 503: ReadyReply } } },
      async (_req, reply) => {
        const eventLog = deps.transport.stats();
        const logOpen = eventLog.state === 'up';
        const storage = await storageWritable();
        // Only a process that stores events stops taking them when storage cannot write: an
        // API apart from its workers still acknowledges durably into the broker meanwhile.
        const stores = deps.aggregator !== undefined;
        const ready =
          deps.lifecycle.migrated &&
          logOpen &&
          logWritable(eventLog) &&
          (storage.writable || !stores) &&
          deps.lifecycle.accepting;
        return reply.code(ready ? 200 : 503).send({
          ready,
          migrated: deps.lifecycle.migrated,
          log_open: logOpen,
          log_writable: logWritable(eventLog),
          storage_writable: storage.writable,
          accepting: deps.lifecycle.accepting,
        });
      },
    );
  };
}

function consumerState(agg: ConsumerView, log: LogStats, started: number, now: number) {
  const s = agg.stats();
  const since = s.lastBatchAt ?? started;
  // Bytes, where the log knows them, rather than the event count (a lower bound).
  const pending = log.bytes === undefined ? log.waiting > 0 : log.bytes > 0;
  const status = s.paused
    ? 'paused'
    : pending && now - since > STALL_MS
      ? 'stalled'
      : s.lastError !== undefined
        ? 'failing'
        : 'up';
  return {
    status,
    paused: s.paused,
    last_batch_at: s.lastBatchAt === undefined ? null : iso(s.lastBatchAt),
    ...(s.lastError === undefined ? {} : { last_error: cut(s.lastError) }),
  } as const;
}

/**
 * Whether storage can write: what the last write told (Db.writeState), asked again with a write
 * probe when nothing wrote for PROBE_AFTER_MS or when the last write failed (at most once per
 * PROBE_EVERY_MS). Probes never overlap.
 */
function createWriteCheck(db: Db) {
  let probing: Promise<void> | undefined;
  let probedAt = 0;
  return async () => {
    const known = db.writeState();
    const now = Date.now();
    const stale = known.at === undefined || now - known.at > PROBE_AFTER_MS;
    if ((stale || !known.writable) && now - probedAt >= PROBE_EVERY_MS) {
      probedAt = now;
      probing ??= db
        .probeWrite()
        .catch(() => undefined) // recorded in writeState by the database itself
        .finally(() => (probing = undefined));
    }
    if (probing) {
      const done = await withTimeout(probing, PROBE_WAIT_MS, () => new Error('timeout')).then(
        () => true,
        () => false,
      );
      if (!done) {
        return { writable: false, at: known.at, error: 'the write probe did not finish in 2 s' };
      }
    }
    return db.writeState();
  };
}
