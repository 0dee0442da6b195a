import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { logUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { createBrokerTransport, type Broker } from './broker-transport.js';
import { chunkBy } from './chunk-by.js';
import {
  closeClient,
  connectInBackground,
  createRedisClient,
  watch,
  type RedisClient,
} from './redis-client.js';
import { RedisStreamConsumer } from './redis-stream-consumer.js';
import type { Transport } from './transport.js';

export interface RedisStreamsOptions {
  url: string;
  stream: string;
  group: string;
  /** Entries pending this long on a consumer are taken over by another (the owner is presumed dead). */
  reclaimIdleMs: number;
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
 * reclaim entries idle on dead consumers (XAUTOCLAIM) and trim only below what every group has
 * acknowledged. One stream keeps the global order, hence per-key order with one consumer; several
 * workers share the stream (per-key order is then not kept across workers, which the rollups do
 * not need: counts commute and the aggregator dedups).
 */
export async function createRedisStreams(
  opts: RedisStreamsOptions,
  logger: Logger,
): Promise<Transport> {
  const client = createRedisClient(opts.url, logger, 'main');
  void connectInBackground(client);
  await ready(client, 2000);
  return createBrokerTransport(redisBroker(client, opts, logger), opts);
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
    // The state comes from the connection, which the publisher and the consumer share.
    writable: () => client.isReady,
    up: () => client.isReady,
    encode(events) {
      // `[a,b]` → `a,b`: the events of concurrent requests are joined into one entry's array.
      const json = JSON.stringify(events);
      return { item: json.slice(1, -1), bytes: json.length };
    },
    async write(parts) {
      const entries = chunkBy(parts, (p) => p.length, ENTRY_MAX_BYTES);
      try {
        // Sent back to back on one connection: one round trip, applied in order.
        await Promise.all(
          entries.map((c) =>
            client.sendCommand(['XADD', opts.stream, '*', 'e', `[${c.join(',')}]`], {
              timeout: timeoutMs,
            }),
          ),
        );
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'XADD failed; publish answered 503');
        throw logUnavailable('Redis did not accept the events; retry shortly', 2);
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
    backlog: () => backlog(client, opts),
    close: () => closeClient(client),
  };
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
