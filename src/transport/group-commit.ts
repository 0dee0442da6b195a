import { setImmediate as nextTurn } from 'node:timers/promises';
import { AppError, logUnavailable } from '../errors.js';

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for broker transports: every publish that arrives in the same event-loop turn, or
 * while a write is in flight, joins the next write, so concurrent requests share one broker round
 * trip. One write at a time keeps the publish order (and per-key order) and is what an idempotent
 * Kafka producer needs. `write` must bound its own duration (it owns the broker client's timeout).
 */
export class GroupCommit<T> {
  private items: T[] = [];
  private waiters: Waiter[] = [];
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
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.flushing ??= this.loop();
    return p;
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
      const waiters = this.waiters;
      this.items = [];
      this.waiters = [];
      this.bytes = 0;
      try {
        await this.write(items);
        for (const w of waiters) {
          w.resolve();
        }
      } catch (err) {
        const appErr =
          err instanceof AppError
            ? err
            : logUnavailable('the event log did not accept the events; retry', 2);
        for (const w of waiters) {
          w.reject(appErr);
        }
      }
    }
    this.flushing = undefined;
  }
}
