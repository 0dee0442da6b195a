import type { Kafka, Producer } from 'kafkajs';
import type { CanonicalEvent } from '../events/event.js';
import { logUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { Backoff } from '../retry.js';
import { chunkBy, GroupCommit, withTimeout } from './group-commit.js';
import { KafkaAdmin } from './kafka-admin.js';
import { runKafkaConsumer } from './kafka-consumer.js';
import { hashKey, partitionKey } from './partition-key.js';
import {
  batchLimits,
  BROKER_TRAITS,
  type Batch,
  type ConsumeOptions,
  type LogStats,
  type Transport,
} from './transport.js';

export interface KafkaOptions {
  brokers: string[];
  topic: string;
  /** Partitions of the topic when this process creates it. */
  partitions: number;
  groupId: string;
  /** Bytes waiting for the next produce request before publishers get 503. */
  maxPendingBytes: number;
  /** Backlog (entries or messages not yet acknowledged by the workers) above which publishers get 503. */
  maxBacklog?: number;
  /** A publish that Kafka has not acknowledged within this bound fails with 503 (default 3000). */
  publishTimeoutMs?: number;
  /** How long the group waits for a silent member (e.g. a killed worker) before rebalancing. */
  sessionTimeoutMs?: number;
}

interface Encoded {
  hash: number;
  json: string;
}

/** One message holds the events of one partition from one flush (group commit), up to this many bytes. */
const MESSAGE_MAX_BYTES = 512 * 1024;
const STATS_EVERY_MS = 2000;
const PARTITIONS_EVERY_MS = 60_000;
const RETRY = { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 };

/**
 * Kafka through kafkajs (loaded only when this transport is chosen). Events are routed by
 * `partitionKey` (site, or ad) so one rollup row is fed by one partition; each flush sends one
 * message per partition holding that partition's events, acks=all, with an idempotent producer
 * (a retried request is not written twice). After any failed send the producer is replaced: its
 * sequence numbers may be out of step with the broker, and kafkajs does not recover from that.
 */
export async function createKafkaTransport(opts: KafkaOptions, log: Logger): Promise<Transport> {
  const { Kafka: KafkaClient, logLevel } = await import('kafkajs');
  const kafka = new KafkaClient({
    clientId: 'tally',
    brokers: opts.brokers,
    connectionTimeout: 2000,
    retry: RETRY,
    logLevel: logLevel.WARN,
    // kafkajs is chatty while the broker is away; our own state changes are logged at warn.
    logCreator: () => (e) => {
      const level = e.level === logLevel.ERROR ? 'warn' : 'debug';
      log[level]({ kafkajs: e.namespace, ...e.log, timestamp: undefined }, e.log.message);
    },
  });
  return new KafkaTransport(kafka, opts, log);
}

class KafkaTransport implements Transport {
  readonly name = 'kafka';
  readonly traits = BROKER_TRAITS;
  private readonly queue: GroupCommit<Encoded[]>;
  private readonly timeoutMs: number;
  private readonly closing = new AbortController();
  private state: 'connecting' | 'up' | 'down' = 'connecting';
  private closed = false;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private reconnecting: Promise<void> | undefined;
  private readonly admin: KafkaAdmin;
  private partitions = 0;
  private partitionsAt = 0;
  private consuming: Promise<void> | undefined;
  private stop: AbortController | undefined;
  private waiting = 0;
  private statsAt = 0;
  private statsBusy = false;
  /** Whether the last offsets read succeeded: a worker-only process never produces, so this is its view of the broker. */
  private statsOk = true;

  constructor(
    private readonly kafka: Kafka,
    private readonly opts: KafkaOptions,
    private readonly log: Logger,
  ) {
    this.timeoutMs = opts.publishTimeoutMs ?? 3000;
    this.admin = new KafkaAdmin(kafka, RETRY, log);
    this.queue = new GroupCommit((items) => this.write(items), opts.maxPendingBytes);
    // Connect now so the first request does not pay for it; failure only marks the log down.
    this.getProducer().catch((err: unknown) => this.markDown(err));
  }

  publish(events: CanonicalEvent[]): Promise<void> {
    if (this.closed) {
      return Promise.reject(logUnavailable('the event log is closed'));
    }
    if (this.state === 'down') {
      return Promise.reject(logUnavailable('Kafka is unreachable; retry shortly', 2));
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
    let bytes = 0;
    const encoded = events.map((e) => {
      const json = JSON.stringify(e);
      bytes += json.length;
      return { hash: hashKey(partitionKey(e)), json };
    });
    return this.queue.add(encoded, bytes);
  }

  private async write(items: Encoded[][]): Promise<void> {
    if (this.state === 'down') {
      throw logUnavailable('Kafka is unreachable; retry shortly', 2);
    }
    const deadline = Date.now() + this.timeoutMs;
    let producer: Producer | undefined;
    try {
      producer = await withTimeout(
        this.getProducer(),
        this.timeoutMs,
        () => new Error('timed out connecting to Kafka'),
      );
      await withTimeout(
        producer.send({
          topic: this.opts.topic,
          acks: -1,
          timeout: this.timeoutMs,
          messages: this.messages(items),
        }),
        Math.max(1, deadline - Date.now()),
        () => new Error('timed out waiting for Kafka to acknowledge'),
      );
      this.state = 'up';
    } catch (err) {
      this.markDown(err);
      throw logUnavailable('Kafka did not accept the events; retry shortly', 2);
    }
    this.refreshPartitionsSoon();
  }

  /** One message per partition: the partition's events, in publish order, as one JSON array. */
  private messages(items: Encoded[][]): { partition: number; value: string }[] {
    const byPartition = new Map<number, string[]>();
    for (const events of items) {
      for (const e of events) {
        const p = e.hash % this.partitions;
        let list = byPartition.get(p);
        if (!list) {
          list = [];
          byPartition.set(p, list);
        }
        list.push(e.json);
      }
    }
    const out: { partition: number; value: string }[] = [];
    for (const [partition, list] of byPartition) {
      for (const c of chunkBy(list, (s) => s.length, MESSAGE_MAX_BYTES)) {
        out.push({ partition, value: `[${c.join(',')}]` });
      }
    }
    return out;
  }

  private getProducer(): Promise<Producer> {
    if (this.producer) {
      return Promise.resolve(this.producer);
    }
    this.connecting ??= this.connectProducer().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectProducer(): Promise<Producer> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: RETRY,
    });
    try {
      await producer.connect();
      this.partitions = await this.ensureTopic();
      this.partitionsAt = Date.now();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await producer.disconnect().catch(() => undefined);
      throw new Error('closed');
    }
    this.producer = producer;
    if (this.state === 'down') {
      this.log.info('kafka reachable again');
    }
    this.state = 'up';
    return producer;
  }

  /** Drops the producer and reconnects in the background; publishes answer 503 meanwhile. */
  private markDown(err: unknown): void {
    const producer = this.producer;
    this.producer = undefined;
    void producer?.disconnect().catch(() => undefined);
    if (this.closed || this.state === 'down') {
      return;
    }
    this.state = 'down';
    this.log.warn(
      { err: (err as Error).message },
      'kafka unreachable; publishes answer 503 until it is back',
    );
    this.reconnecting ??= this.reconnect().finally(() => {
      this.reconnecting = undefined;
    });
  }

  private async reconnect(): Promise<void> {
    const backoff = new Backoff(250, 2000);
    while (this.state === 'down' && !this.closed) {
      try {
        await this.getProducer();
        return;
      } catch {
        await backoff.wait(this.closing.signal);
      }
    }
  }

  /** Creates the topic with N partitions when missing; returns its partition count. */
  private ensureTopic = (): Promise<number> =>
    this.admin.ensureTopic(this.opts.topic, this.opts.partitions);

  /** Picks up partitions added to the topic by an operator. */
  private refreshPartitionsSoon(): void {
    if (Date.now() - this.partitionsAt < PARTITIONS_EVERY_MS) {
      return;
    }
    this.partitionsAt = Date.now();
    this.ensureTopic().then(
      (n) => {
        if (n !== this.partitions) {
          this.log.info({ from: this.partitions, to: n }, 'kafka topic partition count changed');
          this.partitions = n;
        }
      },
      () => undefined,
    );
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
    this.consuming = runKafkaConsumer(
      {
        kafka: this.kafka,
        topic: this.opts.topic,
        groupId: this.opts.groupId,
        sessionTimeoutMs: this.opts.sessionTimeoutMs ?? 30_000,
        ensureTopic: this.ensureTopic,
        log: this.log,
      },
      handler,
      batchLimits(opts),
      stop.signal,
    );
    try {
      await this.consuming;
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
    return {
      waiting: this.waiting,
      state: this.state === 'up' && this.statsOk && !this.closed ? 'up' : 'down',
    };
  }

  /** Messages past the group's committed offsets (each holds ≥ 1 event: a lower bound on events). */
  private async refreshStats(): Promise<void> {
    this.statsBusy = true;
    try {
      this.waiting = await withTimeout(
        this.admin.lag(this.opts.topic, this.opts.groupId),
        this.timeoutMs,
        () => new Error('timed out reading kafka offsets'),
      );
      this.statsOk = true;
    } catch {
      this.statsOk = false;
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
    this.closing.abort();
    await this.stopConsuming();
    const producer = this.producer;
    this.producer = undefined;
    await Promise.all([
      producer?.disconnect().catch(() => undefined),
      this.admin.close(),
      // An in-flight connect sees `closed` and disconnects its producer itself.
      this.connecting &&
        withTimeout(this.connecting, 1000, () => new Error('')).catch(() => undefined),
    ]);
  }
}
