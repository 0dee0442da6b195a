/**
 * The one backoff of the code base: every loop that retries (the aggregator's, the logs'
 * consumers, the Kafka producer's reconnect) waits with it.
 */

/** A sleep that ends early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Exponential backoff with full jitter: each wait is drawn uniformly from [0, cap], the cap
 * doubling from `initialMs` up to `maxMs`. Without jitter, N workers that lost the database
 * together retry together, in lockstep, against a server coming back from a failover.
 */
export class Backoff {
  private cap: number;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {
    this.cap = initialMs;
  }

  /** The next wait in milliseconds; the one after may be up to twice as long. */
  next(): number {
    const ms = Math.round(this.random() * this.cap);
    this.cap = Math.min(this.cap * 2, this.maxMs);
    return ms;
  }

  /** After a success: the next failure starts again from `initialMs`. */
  reset(): void {
    this.cap = this.initialMs;
  }

  /** Waits the next wait (ended early by `signal`); returns how long it meant to wait. */
  async wait(signal?: AbortSignal): Promise<number> {
    const ms = this.next();
    await sleep(ms, signal);
    return ms;
  }
}
