import { setImmediate as nextTurn } from 'node:timers/promises';
import { AppError, logUnavailable } from '../errors.js';

/** The promise every add of one write shares, and how to settle it. */
interface Batch {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Group commit for broker transports: every publish that arrives in the same event-loop turn, or
 * while a write is in flight, joins the next write, so concurrent requests share one broker round
 * trip. One write at a time keeps the publish order (and per-key order) and is what an idempotent
 * Kafka producer needs. `write` must bound its own duration (it owns the broker client's timeout).
 */
export class GroupCommit<T> {
  private items: T[] = [];
  /**
   * The adds waiting for the next write share one promise: a request's publish costs a push,
   * not a promise, two closures and a waiter record (this runs once per request).
   */
  private batch: Batch | undefined;
  private bytes = 0;
  private flushing: Promise<void> | undefined;
  private readonly joinTurn: boolean;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    /** Bytes waiting for the next write before publishers get 503 (bounded memory). */
    private readonly maxPendingBytes: number,
    opts: {
      /**
       * Whether the first write waits for the rest of the event-loop turn, so that the adds of
       * that turn join it (default true). False starts it at once with what is there, so a lone
       * add is not delayed (the embedded log's writer); later adds join the next write.
       */
      joinTurn?: boolean;
    } = {},
  ) {
    this.joinTurn = opts.joinTurn ?? true;
  }

  add(item: T, bytes: number): Promise<void> {
    if (this.bytes > this.maxPendingBytes) {
      return Promise.reject(logUnavailable('the event log is saturated; retry shortly'));
    }
    this.items.push(item);
    this.bytes += bytes;
    const batch = (this.batch ??= newBatch());
    this.flushing ??= this.loop();
    return batch.promise;
  }

  /** Resolves once everything added so far was written (or failed). */
  async drain(): Promise<void> {
    while (this.flushing) {
      await this.flushing;
    }
  }

  private async loop(): Promise<void> {
    if (this.joinTurn) {
      // Let the requests of this turn join the first write.
      await nextTurn();
    }
    while (this.items.length > 0) {
      const items = this.items;
      const batch = this.batch!;
      this.items = [];
      this.batch = undefined;
      this.bytes = 0;
      try {
        await this.write(items);
        batch.resolve();
      } catch (err) {
        batch.reject(
          err instanceof AppError
            ? err
            : logUnavailable('the event log did not accept the events; retry', 2),
        );
      }
      if (this.joinTurn && this.items.length > 0) {
        // The next write also takes the rest of this turn: the write's answer was read in the
        // middle of one, before the requests read after it in the same turn had published.
        await nextTurn();
      }
    }
    this.flushing = undefined;
  }
}
