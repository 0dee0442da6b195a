import type { Logger } from '../logger.js';
import type { Db } from '../storage/db.js';
import {
  oldestUserDayBefore,
  purgeDeadLetters,
  purgeMinutes,
  purgeUserDay,
} from '../storage/retention.repo.js';
import { REALTIME_HORIZON_MS } from '../rollups/dimensions.js';
import { DAY_MS, dayOf } from '../events/time.js';

export interface RetentionOptions {
  /** Days dead letters are kept (0: forever). */
  deadLetterDays: number;
  /** Days per-user rows are kept (0: forever; exact unique users over any range). */
  userRowDays: number;
  clock?: () => number;
}

const BATCH = 5000;
/** One pass stops after this long, so a first purge of a large backlog never hogs the database. */
const PASS_MS = 10_000;

/**
 * Purges, in the background, what is older than its retention: dead letters in batches, and
 * per-user rows one day at a time (their daily counts kept), realtime minute buckets past an
 * hour. Returns what one pass removed.
 */
export function createRetention(db: Db, logger: Logger, opts: RetentionOptions) {
  const clock = opts.clock ?? Date.now;
  return async function purge(): Promise<{
    deadLetters: number;
    userRows: number;
    minuteRows: number;
  }> {
    const removed = { deadLetters: 0, userRows: 0, minuteRows: 0 };
    const end = Date.now() + PASS_MS;
    try {
      // Realtime's minute buckets (with their per-user rows) serve the last hour at most.
      removed.minuteRows = await purgeMinutes(db, new Date(clock() - REALTIME_HORIZON_MS));
      if (opts.deadLetterDays > 0) {
        const before = new Date(clock() - opts.deadLetterDays * DAY_MS);
        for (let n = BATCH; n === BATCH && Date.now() < end;) {
          n = await purgeDeadLetters(db, before, BATCH);
          removed.deadLetters += n;
        }
      }
      if (opts.userRowDays > 0) {
        const before = dayOf(clock() - opts.userRowDays * DAY_MS);
        for (
          let day = await oldestUserDayBefore(db, before);
          day !== undefined && Date.now() < end;
        ) {
          removed.userRows += await purgeUserDay(db, day);
          day = await oldestUserDayBefore(db, before);
        }
      }
    } catch (err) {
      logger.warn({ err }, 'retention purge failed; will retry');
    }
    // Minute rows go every pass: not worth a log line of their own.
    if (removed.deadLetters + removed.userRows > 0) {
      logger.info(removed, 'purged rows past their retention');
    }
    return removed;
  };
}
