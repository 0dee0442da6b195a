import type { CanonicalEvent } from '../events/event.js';
import { logUnavailable } from '../errors.js';
import { BacklogGauge } from './backlog-gauge.js';
import { GroupCommit } from './group-commit.js';
import {
  batchLimits,
  BROKER_TRAITS,
  type Batch,
  type BatchLimits,
  type ConsumeOptions,
  type LogStats,
  type Transport,
} from './transport.js';

/**
 * What a broker (Redis Streams, Kafka) supplies to `createBrokerTransport`: only what differs
 * between brokers. The transport around it owns the group commit, the publish guard, the
 * backlog gauge and the order of consume / stopConsuming / close.
 */
export interface Broker<T> {
  /** The transport's name ('redis', 'kafka'). */
  readonly name: string;
  /** The broker as publishers are told of it ("Redis is unreachable; retry shortly"). */
  readonly label: string;
  /** How often the backlog is read in the background. */
  readonly backlogEveryMs: number;
  /** False while the broker is known to be unreachable: publishes answer 503 at once. */
  writable(): boolean;
  /** Whether `stats()` reports the broker up (while the transport is open). */
  up(): boolean;
  /** One publish's events as one item of the next write, with its weight in bytes. */
  encode(events: CanonicalEvent[]): { item: T; bytes: number };
  /**
   * Writes the items of one group commit (concurrent publishes, in call order); bounds its own
   * duration; rejects with an AppError (503) when the broker did not take them.
   */
  write(items: T[]): Promise<void>;
  /** Runs a consumer until `signal` aborts; resolves after the batches in hand finished. */
  consume(
    handler: (batch: Batch) => Promise<void>,
    limits: BatchLimits,
    signal: AbortSignal,
  ): Promise<void>;
  /** What the group has not acknowledged yet (entries or messages: a lower bound on events). */
  backlog(): Promise<number>;
  /** Closes the broker's clients; called last, once nothing is written or consumed any more. */
  close(): Promise<void>;
}

export interface BrokerLimits {
  /** Bytes waiting for the next write before publishers get 503. */
  maxPendingBytes: number;
  /** Backlog (entries or messages not yet acknowledged by the workers) above which publishers get 503. */
  maxBacklog?: number | undefined;
}

/** The one broker transport: Redis Streams and Kafka are this with their own `Broker`. */
export function createBrokerTransport<T>(broker: Broker<T>, limits: BrokerLimits): Transport {
  return new BrokerTransport(broker, limits);
}

class BrokerTransport<T> implements Transport {
  readonly name: string;
  readonly traits = BROKER_TRAITS;
  private readonly queue: GroupCommit<T>;
  private readonly backlog: BacklogGauge;
  private closed = false;
  private consuming: Promise<void> | undefined;
  private stop: AbortController | undefined;

  constructor(
    private readonly broker: Broker<T>,
    private readonly limits: BrokerLimits,
  ) {
    this.name = broker.name;
    this.queue = new GroupCommit((items) => broker.write(items), limits.maxPendingBytes);
    // Read from the start: a process that only publishes needs the backlog for its guard.
    this.backlog = new BacklogGauge(() => broker.backlog(), broker.backlogEveryMs);
    this.backlog.start();
  }

  publish(events: CanonicalEvent[]): Promise<void> {
    if (this.closed) {
      return Promise.reject(logUnavailable('the event log is closed'));
    }
    if (!this.broker.writable()) {
      return Promise.reject(
        logUnavailable(`${this.broker.label} is unreachable; retry shortly`, 2),
      );
    }
    if (events.length === 0) {
      return Promise.resolve();
    }
    // The backlog is read in the background (BacklogGauge); refusing here bounds what piles up
    // in the broker when the workers cannot keep up, instead of queueing without limit.
    const { maxBacklog } = this.limits;
    if (maxBacklog !== undefined && this.backlog.waiting > maxBacklog) {
      return Promise.reject(
        logUnavailable('the workers are behind and the log backlog is full; retry later', 5),
      );
    }
    const { item, bytes } = this.broker.encode(events);
    return this.queue.add(item, bytes);
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
    this.consuming = this.broker.consume(handler, batchLimits(opts), stop.signal);
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

  /** A pure read: the backlog is refreshed apart, on the gauge's timer. */
  stats(): LogStats {
    return {
      waiting: this.backlog.waiting,
      state: !this.closed && this.broker.up() ? 'up' : 'down',
    };
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.backlog.stop();
    // What was accepted is written first, then the consumer stops, then the clients go.
    await this.queue.drain();
    await this.stopConsuming();
    await this.broker.close();
  }
}
