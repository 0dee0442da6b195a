import type { CanonicalEvent } from '../events/event.js';

/**
 * A batch handed to the consumer. `checkpoint`, when present, is the position to store in the
 * same storage transaction as the batch's effects (the embedded log keeps its consumer position
 * in the database, so a commit and the position move together).
 */
export interface Batch {
  events: CanonicalEvent[];
  checkpoint?: { name: string; position: string };
  /**
   * Entries of this batch's span of the log that could not be decoded into events (not JSON,
   * not an event array): the aggregator stores each as a dead letter with its reason, in the
   * batch's transaction, so that nothing leaves the log without a trace.
   */
  undecodable?: Undecodable[];
}

/** A log entry that is not an event: its raw text (cut to a bounded length) and why. */
export interface Undecodable {
  payload: string;
  reason: string;
}

/**
 * What a log found missing under its consumer: entries it had acknowledged to publishers and
 * can no longer hand out (a Redis restarted without persistence, a Kafka topic deleted or
 * its offsets reset).
 */
export interface LogLoss {
  reason: string;
  /**
   * Entries known lost (each holds at least one event), when the log can tell: 0 when all it
   * lost was in this consumer's hands, so still counted. Undefined when it cannot tell: the
   * drop ledger then counts at least one.
   */
  events: number | undefined;
}

export interface ConsumeOptions {
  /** Where to resume, as last committed with a batch's checkpoint (embedded log only). */
  checkpoint?: string | undefined;
  maxBatchEvents: number;
  /**
   * Batching by age as well as size: when less than a full batch is waiting, wait up to this
   * long for more before handing it out (fewer, larger storage transactions under light load).
   */
  maxWaitMs?: number;
  /**
   * Called before the log discards what was acknowledged (embedded log: deletes consumed
   * segments); resolves once every acknowledged batch is durable in storage. Storage may then
   * commit batches without waiting for a flush: a crash rolls back batch and checkpoint together
   * and the log, still holding them, replays them.
   */
  release?: () => Promise<void>;
  /**
   * How many batches may be in the handler at once (default 1). Redis Streams honours it as
   * given; Kafka hands out at most one per partition; the embedded log always hands out one,
   * because its checkpoint must move in order. Batches in flight together hold different events
   * but may share an event id or a rollup row: the handler must be safe for that.
   */
  concurrency?: number;
  /**
   * Told when the log finds data lost under the consumer (see LogLoss); the aggregator records
   * it in the drop ledger as `log_lost`. The log also logs it at error level and counts it in
   * `stats().lost`.
   */
  onLost?: (loss: LogLoss) => Promise<void>;
  /**
   * Synchronous CPU work on a batch that the handler will be given next (the aggregator's
   * derivation and rollup sums). The embedded log reads the next batch and calls this while the
   * handler still applies the current one, so that the work overlaps the database's.
   */
  prepare?: (batch: Batch) => void;
}

/** What a consumer loop needs of the options: the batch size, the linger and the concurrency. */
export interface BatchLimits {
  maxEvents: number;
  maxWaitMs: number;
  concurrency: number;
}

export const batchLimits = (o: ConsumeOptions): BatchLimits => ({
  maxEvents: o.maxBatchEvents,
  maxWaitMs: o.maxWaitMs ?? 0,
  concurrency: o.concurrency ?? 1,
});

export interface LogStats {
  /** Events written to the log and not yet acknowledged by the consumer (known lower bound). */
  waiting: number;
  /** Bytes the log keeps on disk / in the broker for not-yet-consumed events, if known. */
  bytes?: number;
  state: 'up' | 'down';
  /**
   * Whether a publish would be taken now. False while the log refuses appends though it is up
   * (the embedded log at its disk reserve, a broker refusing writes): `/ready` turns 503.
   * Absent means true when `state` is up.
   */
  writable?: boolean;
  /** Why the log is down or not writable, for `/health`. */
  reason?: string;
  /** Losses found since start (see LogLoss): incidents, events known lost, the last one. */
  lost?: { incidents: number; events: number; lastAt: number; reason: string };
}

/**
 * What a log is, as the rest of the service needs to know it: declared by each implementation,
 * so that no caller recognises a log by its name.
 */
export interface TransportTraits {
  /**
   * The name under which the consumer's position is stored in the database, moved in each
   * batch's transaction; undefined when the log keeps its consumers' positions itself.
   */
  readonly checkpointName: string | undefined;
  /**
   * Whether the log keeps acknowledged batches until `release` resolves: storage may then
   * commit them asynchronously, since the log replays whatever a crash rolled back.
   */
  readonly holdsUntilReleased: boolean;
  /**
   * Whether the log lives inside one process: the API and the aggregator cannot run apart,
   * and what is left in it is drained into storage before that process stops.
   */
  readonly inProcess: boolean;
}

/**
 * The log between the edge and the aggregator. Keep this small: every method must be
 * implementable by the embedded log, Redis Streams and Kafka.
 * Delivery is at-least-once; exactness comes from the aggregator's dedup.
 */
export interface Transport {
  readonly name: string;
  readonly traits: TransportTraits;
  /** Resolves only once the events are durable in the log. Rejects with an AppError (503) when it cannot take them. */
  publish(events: CanonicalEvent[]): Promise<void>;
  /**
   * Calls `handler` with batches, at most `opts.concurrency` at a time. A batch is acknowledged only after `handler`
   * resolved; a rejected handler leaves it unacknowledged (it is redelivered).
   * Resolves when consumption stopped (after `stopConsuming` or `close`).
   */
  consume(handler: (batch: Batch) => Promise<void>, opts: ConsumeOptions): Promise<void>;
  /** Stops handing out new batches; resolves after the batches in hand (if any) finished. */
  stopConsuming(): Promise<void>;
  stats(): LogStats;
  close(): Promise<void>;
}

/** A broker keeps its consumers' positions and forgets what they acknowledged. */
export const BROKER_TRAITS: TransportTraits = {
  checkpointName: undefined,
  holdsUntilReleased: false,
  inProcess: false,
};
