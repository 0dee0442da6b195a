import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { CanonicalEvent } from '../events/event.js';
import { logUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { chunkBy, GroupCommit } from './group-commit.js';
import {
  closeClient,
  connectInBackground,
  createRedisClient,
  watch,
  type RedisClient,
} from './redis-client.js';
import { RedisStreamConsumer } from './redis-stream-consumer.js';
import {
  batchLimits,
  BROKER_TRAITS,
  type Batch,
  type ConsumeOptions,
  type LogStats,
  type Transport,
} from './transport.js';

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
  log: Logger,
): Promise<Transport> {
  const t = new RedisStreams(opts, log);
  await t.ready(2000);
  return t;
}

class RedisStreams implements Transport {
  readonly name = 'redis';
  readonly traits = BROKER_TRAITS;
  private readonly client: RedisClient;
  private readonly queue: GroupCommit<string>;
  private readonly timeoutMs: number;
  private readonly consumerName: string;
  private closed = false;
  private consuming: Promise<void> | undefined;
  private stop: AbortController | undefined;
  private waiting = 0;
  private statsAt = 0;
  private statsBusy = false;

  constructor(
    private readonly opts: RedisStreamsOptions,
    private readonly log: Logger,
  ) {
    this.timeoutMs = opts.publishTimeoutMs ?? 3000;
    this.consumerName =
      opts.consumerName ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.client = createRedisClient(opts.url, log, 'main');
    void connectInBackground(this.client);
    this.queue = new GroupCommit((parts) => this.write(parts), opts.maxPendingBytes);
  }

  /** Waits (bounded) for the first connection, so start-up does not answer 503; Redis down is not fatal. */
  async ready(ms: number): Promise<void> {
    if (this.client.isReady) {
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.client.on('ready', done);
    });
  }

  publish(events: CanonicalEvent[]): Promise<void> {
    if (this.closed) {
      return Promise.reject(logUnavailable('the event log is closed'));
    }
    if (!this.client.isReady) {
      return Promise.reject(logUnavailable('Redis is unreachable; retry shortly', 2));
    }
    if (events.length === 0) {
      return Promise.resolve();
    }
    // The backlog is read in the background (stats()); refusing here bounds what piles up in
    // the broker when the workers cannot keep up, instead of queueing without limit.
    if (this.opts.maxBacklog !== undefined && this.stats().waiting > this.opts.maxBacklog) {
      return Promise.reject(
        logUnavailable('the workers are behind and the log backlog is full; retry later', 5),
      );
    }
    // `[a,b]` → `a,b`: the events of concurrent requests are joined into one entry's array.
    const json = JSON.stringify(events);
    return this.queue.add(json.slice(1, -1), json.length);
  }

  private async write(parts: string[]): Promise<void> {
    const entries = chunkBy(parts, (p) => p.length, ENTRY_MAX_BYTES);
    try {
      // Sent back to back on one connection: one round trip, applied in order.
      await Promise.all(
        entries.map((c) =>
          this.client.sendCommand(['XADD', this.opts.stream, '*', 'e', `[${c.join(',')}]`], {
            timeout: this.timeoutMs,
          }),
        ),
      );
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'XADD failed; publish answered 503');
      throw logUnavailable('Redis did not accept the events; retry shortly', 2);
    }
  }

  async consume(handler: (batch: Batch) => Promise<void>, opts: ConsumeOptions): Promise<void> {
    if (this.consuming) {
      throw new Error('this transport already runs a consumer');
    }
    if (this.closed) {
      return;
    }
    const stop = new AbortController();
    this.stop = stop;
    const reader = this.client.duplicate();
    watch(reader, this.log, 'reader');
    void connectInBackground(reader);
    const consumer = new RedisStreamConsumer(
      {
        client: this.client,
        reader,
        stream: this.opts.stream,
        group: this.opts.group,
        consumer: this.consumerName,
        reclaimIdleMs: this.opts.reclaimIdleMs,
        log: this.log,
      },
      handler,
      batchLimits(opts),
      stop.signal,
    );
    const run = (async () => {
      try {
        await consumer.run();
      } finally {
        await closeClient(reader);
        await consumer.leave();
      }
    })();
    this.consuming = run;
    try {
      await run;
    } finally {
      this.consuming = undefined;
    }
  }

  async stopConsuming(): Promise<void> {
    this.stop?.abort();
    await this.consuming?.catch(() => undefined);
  }

  stats(): LogStats {
    if (!this.closed && Date.now() - this.statsAt >= STATS_EVERY_MS && !this.statsBusy) {
      void this.refreshStats();
    }
    return { waiting: this.waiting, state: this.client.isReady && !this.closed ? 'up' : 'down' };
  }

  /** Entries not yet delivered to our group plus those delivered and not acknowledged (a lower bound on events). */
  private async refreshStats(): Promise<void> {
    this.statsBusy = true;
    try {
      const { stream, group } = this.opts;
      const groups = await this.client
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
        this.waiting = lag + Number(mine['pending'] ?? 0);
      } else {
        this.waiting = Number(await this.client.sendCommand(['XLEN', stream], { timeout: 2000 }));
      }
    } catch {
      // state comes from the connection; keep the last known figure
    } finally {
      this.statsAt = Date.now();
      this.statsBusy = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    await this.queue.drain();
    await this.stopConsuming();
    await closeClient(this.client);
  }
}

function toFields(arr: unknown[]): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) {
    f[String(arr[i])] = arr[i + 1];
  }
  return f;
}
