import type { CanonicalEvent } from '../events/event.js';
import { logUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { Backoff, sleep } from '../retry.js';
import { BacklogGauge } from './backlog-gauge.js';
import { GroupCommit } from './group-commit.js';
import {
  batchLimits,
  BROKER_TRAITS,
  type Batch,
  type BatchLimits,
  type ConsumeOptions,
  type LogLoss,
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
  /** False while the broker is known to be unreachable or refuses writes: publishes answer 503 at once. */
  writable(): boolean;
  /** Why the broker is down or not writable (for `/health`), if it can say. */
  reason?(): string | undefined;
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

/**
 * What a broker found lost under the group (see LogLoss), counted for `stats().lost` and logged
 * at error level in every process that finds it. `report` is true in the one process elected to
 * tell the consumer (the drop ledger counts an incident once, however many workers saw it);
 * only a process that consumes tells anyone.
 */
export class LogLosses {
  private last: LogStats['lost'];
  private onLost: ((loss: LogLoss) => Promise<void>) | undefined;
  private readonly closing = new AbortController();

  constructor(private readonly logger: Logger) {}

  get stats(): LogStats['lost'] {
    return this.last && { ...this.last };
  }

  /** Set while a consumer runs (the transport's consume). */
  listen(onLost: ((loss: LogLoss) => Promise<void>) | undefined): void {
    this.onLost = onLost;
  }

  close(): void {
    this.closing.abort();
  }

  record(loss: LogLoss, report: boolean): void {
    this.last = {
      incidents: (this.last?.incidents ?? 0) + 1,
      events: (this.last?.events ?? 0) + (loss.events ?? 0),
      lastAt: Date.now(),
      reason: loss.reason,
    };
    this.logger.error(
      { ...loss, reported: report && this.onLost !== undefined },
      'the log lost events it had acknowledged',
    );
    const onLost = this.onLost;
    if (report && onLost) {
      void this.tell(onLost, loss);
    }
  }

  /** The drop ledger may be unreachable right now: retried with backoff until it takes it. */
  private async tell(onLost: (loss: LogLoss) => Promise<void>, loss: LogLoss): Promise<void> {
    const backoff = new Backoff(200, 5000);
    while (!this.closing.signal.aborted) {
      try {
        await onLost(loss);
        return;
      } catch (err) {
        const delayMs = backoff.next();
        this.logger.error({ err, delayMs }, 'could not record the log loss; retrying');
        await sleep(delayMs, this.closing.signal);
      }
    }
  }
}

export interface BrokerLimits {
  /** Bytes waiting for the next write before publishers get 503. */
  maxPendingBytes: number;
  /** Backlog (entries or messages not yet acknowledged by the workers) above which publishers get 503. */
  maxBacklog?: number | undefined;
}

/** The one broker transport: Redis Streams and Kafka are this with their own `Broker`. */
export function createBrokerTransport<T>(
  broker: Broker<T>,
  limits: BrokerLimits,
  losses: LogLosses,
): Transport {
  return new BrokerTransport(broker, limits, losses);
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
    private readonly losses: LogLosses,
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
      const why = this.broker.reason?.() ?? `${this.broker.label} is unreachable`;
      return Promise.reject(logUnavailable(`${why}; retry shortly`, 2));
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
    this.losses.listen(opts.onLost);
    this.consuming = this.broker.consume(handler, batchLimits(opts), stop.signal);
    try {
      await this.consuming;
    } finally {
      this.consuming = undefined;
      this.losses.listen(undefined);
    }
  }

  async stopConsuming(): Promise<void> {
    this.stop?.abort();
    await this.consuming?.catch(() => undefined);
  }

  /** A pure read: the backlog is refreshed apart, on the gauge's timer. */
  stats(): LogStats {
    const up = !this.closed && this.broker.up();
    const writable = up && this.broker.writable();
    const reason = this.closed ? 'closed' : up && writable ? undefined : this.broker.reason?.();
    const lost = this.losses.stats;
    return {
      waiting: this.backlog.waiting,
      state: up ? 'up' : 'down',
      writable,
      ...(reason !== undefined && { reason }),
      ...(lost && { lost }),
    };
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.backlog.stop();
    this.losses.close();
    // What was accepted is written first, then the consumer stops, then the clients go.
    await this.queue.drain();
    await this.stopConsuming();
    await this.broker.close();
  }
}
