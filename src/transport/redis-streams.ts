import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { logUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { createBrokerTransport, LogLosses, type Broker } from './broker-transport.js';
import { chunkBy } from './chunk-by.js';
import {
  closeClient,
  connectInBackground,
  createRedisClient,
  watch,
  type RedisClient,
} from './redis-client.js';
import { RedisStreamConsumer } from './redis-stream-consumer.js';
import { StreamGuard } from './redis-stream-guard.js';
import type { Transport } from './transport.js';

export interface RedisStreamsOptions {
  url: string;
  stream: string;
  group: string;
  /**
   * A consumer whose heartbeat is this old is presumed dead: its pending entries (idle as long)
   * are taken over by another. Live consumers refresh theirs three times as often.
   */
  reclaimIdleMs: number;
  /** Start on a Redis without AOF (`appendonly no`); refused by default. */
  allowNoPersistence?: boolean;
  /** Bytes waiting for the next XADD before publishers get 503. */
  maxPendingBytes: number;
  /** Backlog (entries or messages not yet acknowledged by the workers) above which publishers get 503. */
  maxBacklog?: number;
  /** A publish that Redis has not confirmed within this bound fails with 503 (default 3000). */
  publishTimeoutMs?: number;
  /** Unique per process by default; a name is a consumer's identity in the group. */
  consumerName?: string;
}

/** One stream entry holds the events of several requests (group commit), up to this many bytes. */
const ENTRY_MAX_BYTES = 256 * 1024;
const STATS_EVERY_MS = 1000;

/**
 * Redis Streams: one stream, one consumer group. XADD is group-committed (one pipelined round
 * trip per event-loop turn); consumers read with XREADGROUP, XACK after the handler resolved,
 * reclaim entries pending on dead consumers (heartbeats) and trim only below what every group
 * has acknowledged. A Redis that forgot acknowledged entries is found and reported
 * (redis-stream-guard.ts); one without AOF is refused unless allowed. One stream keeps the global order, hence per-key order with one consumer; several
 * workers share the stream (per-key order is then not kept across workers, which the rollups do
 * not need: counts commute and the aggregator dedups).
 */
export async function createRedisStreams(
  opts: RedisStreamsOptions,
  logger: Logger,
): Promise<Transport> {
  const client = createRedisClient(opts.url, logger, 'main');
  const losses = new LogLosses(logger);
  const guard = new StreamGuard({
    client,
    stream: opts.stream,
    group: opts.group,
    allowNoPersistence: opts.allowNoPersistence ?? false,
    losses,
    logger,
  });
  void connectInBackground(client);
  await ready(client, 2000);
  try {
    await guard.start();
  } catch (err) {
    await closeClient(client);
    throw err;
  }
  return createBrokerTransport(redisBroker(client, guard, opts, logger), opts, losses);
}

/** Waits (bounded) for the first connection, so start-up does not answer 503; Redis down is not fatal. */
async function ready(client: RedisClient, ms: number): Promise<void> {
  if (client.isReady) {
    return;
  }
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    client.on('ready', done);
  });
}

function redisBroker(
  client: RedisClient,
  guard: StreamGuard,
  opts: RedisStreamsOptions,
  logger: Logger,
): Broker<string> {
  const timeoutMs = opts.publishTimeoutMs ?? 3000;
  const consumerName =
    opts.consumerName ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  return {
    name: 'redis',
    label: 'Redis',
    backlogEveryMs: STATS_EVERY_MS,
    // The state comes from the connection, which the publisher and the consumer share, and from
    // the guard's check after each (re)connect.
    writable: () => guard.writable(),
    reason: () => guard.reason(),
    up: () => client.isReady,
    encode(events) {
      // `[a,b]` → `a,b`: the events of concurrent requests are joined into one entry's array.
      const json = JSON.stringify(events);
      return { item: json.slice(1, -1), bytes: json.length };
    },
    async write(parts) {
      const entries = chunkBy(parts, (p) => p.length, ENTRY_MAX_BYTES);
      let ids: (string | null)[];
      try {
        // Sent back to back on one connection: one round trip, applied in order. NOMKSTREAM:
        // a stream that vanished is not silently created again (the guard recreates it).
        ids = await withinMs(
          Promise.all(
            entries.map((c) =>
              client.sendCommand<string | null>([
                'XADD',
                opts.stream,
                'NOMKSTREAM',
                '*',
                'e',
                `[${c.join(',')}]`,
              ]),
            ),
          ),
          timeoutMs,
        );
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'XADD failed; publish answered 503');
        throw logUnavailable('Redis did not accept the events; retry shortly', 2);
      }
      for (const id of ids) {
        if (id === null) {
          void guard.check().catch(() => undefined);
          throw logUnavailable('the Redis stream vanished; retry shortly', 1);
        }
        guard.saw(id);
      }
    },
    async consume(handler, limits, signal) {
      const reader = client.duplicate();
      watch(reader, logger, 'reader');
      void connectInBackground(reader);
      const consumer = new RedisStreamConsumer(
        {
          client,
          reader,
          stream: opts.stream,
          group: opts.group,
          consumer: consumerName,
          reclaimIdleMs: opts.reclaimIdleMs,
          guard,
          logger,
        },
        handler,
        limits,
        signal,
      );
      try {
        await consumer.run();
      } finally {
        await closeClient(reader);
        await consumer.leave();
      }
    },
    async backlog() {
      // Also the periodic check: a flush or a restore without a reconnect is found within a tick.
      await guard.check();
      guard.backlog = await backlog(client, opts);
      return guard.backlog;
    },
    close: () => closeClient(client),
  };
}

/**
 * `p`, or a rejection after `ms`. The write's bound is one timer here rather than the Redis
 * client's per-command `timeout` (an AbortSignal.timeout, its timer and listener per XADD: about
 * 1 µs per request in the API's profile, docs/benchmarks.md "Edge CPU per request"). A write
 * that timed out may still be applied later: the publish was answered 503, and the client's
 * resend counts once (dedup), as with the client's own timeout.
 */
function withinMs<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  // A command that fails after the deadline must not go unhandled.
  p.catch(() => undefined);
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Entries not yet delivered to our group plus those delivered and not acknowledged (a lower bound on events). */
async function backlog(
  client: RedisClient,
  { stream, group }: RedisStreamsOptions,
): Promise<number> {
  const groups = await client
    .sendCommand<unknown[][]>(['XINFO', 'GROUPS', stream], { timeout: 2000 })
    .catch((err: unknown) => {
      if (String((err as Error).message).includes('no such key')) {
        return [];
      }
      throw err;
    });
  const mine = groups.map(toFields).find((g) => g['name'] === group);
  if (mine) {
    const lag = typeof mine['lag'] === 'number' ? mine['lag'] : 0;
    return lag + Number(mine['pending'] ?? 0);
  }
  return Number(await client.sendCommand(['XLEN', stream], { timeout: 2000 }));
}

function toFields(arr: unknown[]): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) {
    f[String(arr[i])] = arr[i + 1];
  }
  return f;
}
