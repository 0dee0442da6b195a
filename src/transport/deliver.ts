import type { Logger } from '../logger.js';
import { Backoff, sleep } from '../retry.js';
import type { Batch } from './transport.js';

/** How a log waits before handing a rejected batch to its handler again. */
const REDELIVERY = { initialMs: 100, maxMs: 5000 } as const;

/**
 * The one owner of redelivery: every log hands each batch to the consumer's handler through
 * this. A rejected batch is handed again, after a jittered backoff, until the handler accepts it
 * or the log stops consuming (or no longer owns the batch); the batch then stays
 * unacknowledged, for whichever consumer reads it next. Handlers do not retry: they record what
 * failed and reject.
 *
 * Resolves true once the handler accepted the batch, false when delivery was given up.
 */
export async function deliver(
  handler: (batch: Batch) => Promise<void>,
  batch: Batch,
  opts: { signal: AbortSignal; logger: Logger; stillOwned?: () => boolean },
): Promise<boolean> {
  const backoff = new Backoff(REDELIVERY.initialMs, REDELIVERY.maxMs);
  for (;;) {
    try {
      await handler(batch);
      return true;
    } catch (err) {
      if (opts.signal.aborted || opts.stillOwned?.() === false) {
        return false;
      }
      const delayMs = backoff.next();
      opts.logger.warn(
        { err, delayMs, events: batch.events.length },
        'batch handler failed; will redeliver',
      );
      await sleep(delayMs, opts.signal);
      if (opts.signal.aborted) {
        return false;
      }
    }
  }
}
