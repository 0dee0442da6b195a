import type { Logger } from '../logger.js';
import type { Queryable } from '../storage/db.js';
import { addDrops } from '../storage/drop-ledger.repo.js';

export interface DropCounter {
  add(reason: string, events: number): void;
  /** Everything added since start, per reason (for /metrics; the ledger has the history). */
  totals(): Readonly<Record<string, number>>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Counts what the edge refused (invalid, ...) into the drop ledger without touching the
 * database on the request path: counts accumulate in memory and are flushed every second.
 */
export function createDropCounter(db: Queryable, logger: Logger, everyMs = 1000): DropCounter {
  let counts: Record<string, number> = {};
  const totals: Record<string, number> = {};
  let flushing: Promise<void> = Promise.resolve();
  const flushNow = async () => {
    const batch = counts;
    if (Object.keys(batch).length === 0) {
      return;
    }
    counts = {};
    try {
      await addDrops(db, Date.now(), batch);
    } catch (err) {
      logger.warn({ err }, 'could not record edge drops; keeping them for the next flush');
      for (const [k, v] of Object.entries(batch)) {
        counts[k] = (counts[k] ?? 0) + v;
      }
    }
  };
  const flush = () => (flushing = flushing.then(flushNow));
  const timer = setInterval(() => void flush(), everyMs);
  timer.unref();
  return {
    add(reason, events) {
      counts[reason] = (counts[reason] ?? 0) + events;
      totals[reason] = (totals[reason] ?? 0) + events;
    },
    totals: () => totals,
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
