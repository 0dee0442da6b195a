import type { Logger } from '../logger.js';
import type { Db } from '../storage/db.js';
import { compactStep } from '../storage/path-months.repo.js';
import { DAY_MS, dayOf } from '../events/time.js';

/**
 * Days summed per transaction. Batches wait while a step holds the watermark's row, so a step
 * is one day (measured on a year of 5,000 paths a day: 90–130 ms on PostgreSQL, 135–225 ms
 * embedded); catching up on a year is 365 steps.
 */
export const STEP_DAYS = 1;
/** One pass stops after this long; the next pass goes on. */
const PASS_MS = 10_000;

export interface PathMonthsOptions {
  clock?: () => number;
  /** Compact the days whose end is at least this old (default: a day). */
  settleMs?: number;
}

/**
 * Keeps the monthly path rollups (migrations/0014) that long path rankings read: sums, in the
 * background, each day into its month once the day is a day old (events of yesterday still
 * arrive around midnight; a later one is added to its month by the batch that brings it, so
 * the sums stay exact either way). Idempotent and crash-safe: one transaction per step moves
 * the watermark with the sums. Returns the watermark reached, if it moved.
 */
export function createPathMonths(db: Db, logger: Logger, opts: PathMonthsOptions = {}) {
  const clock = opts.clock ?? Date.now;
  const settleMs = opts.settleMs ?? DAY_MS;
  return async function compact(): Promise<string | undefined> {
    // Days before `target` ended at least `settleMs` ago.
    const target = dayOf(clock() - settleMs);
    const end = Date.now() + PASS_MS;
    let reached: string | undefined;
    try {
      for (;;) {
        const next = await compactStep(db, target, STEP_DAYS);
        if (next === undefined) {
          break;
        }
        reached = next;
        if (Date.now() >= end) {
          break;
        }
      }
    } catch (err) {
      logger.warn({ err }, 'monthly path compaction failed; will retry');
    }
    if (reached !== undefined) {
      logger.info({ before: reached }, 'monthly path rollups compacted');
    }
    return reached;
  };
}
