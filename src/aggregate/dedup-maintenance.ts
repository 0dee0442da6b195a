import type { CanonicalEvent } from '../events/event.js';
import type { Logger } from '../logger.js';
import type { Db } from '../storage/db.js';
import {
  dayNumber,
  dropGenerationsEndedBy,
  horizon,
  removeHorizon,
  rotateGeneration,
  writeHorizon,
} from '../storage/event-ids.repo.js';

/** Workers silent for this long are left out of the horizon: others take over their entries. */
const HORIZON_LIVE_MS = 10 * 60_000;
/** Arrival order in a log is not exact across API processes and reclaimed entries. */
const HORIZON_SLACK_MS = 3_600_000;

/**
 * Where one worker stands in the log: the oldest arrival among the batches it holds or has
 * applied since it was last asked.
 */
export class ArrivalTracker {
  private readonly inHand = new Map<object, number>();
  private appliedLow = Infinity;

  hold(batch: object, events: CanonicalEvent[]): void {
    this.inHand.set(batch, oldestArrival(events));
  }

  /** The batch is in storage. */
  applied(batch: object): void {
    const low = this.inHand.get(batch);
    this.inHand.delete(batch);
    if (low !== undefined) {
      this.appliedLow = Math.min(this.appliedLow, low);
    }
  }

  /** The batch was given up (stopping): it stays in the log for the next consumer. */
  dropped(batch: object): void {
    this.inHand.delete(batch);
  }

  /**
   * The oldest arrival held or applied since the last call; `now` when nothing is held and
   * the log is empty; undefined when nothing of a backlog was read yet (say nothing rather
   * than guess).
   */
  standing(now: number, logEmpty: boolean): number | undefined {
    let low = this.appliedLow;
    for (const l of this.inHand.values()) {
      low = Math.min(low, l);
    }
    this.appliedLow = Infinity;
    if (low !== Infinity) {
      return low;
    }
    return logEmpty ? now : undefined;
  }
}

export interface DedupMaintenance {
  /** Starts a new generation when the window turned (every worker does it at start). */
  rotate(): Promise<void>;
  /** Rotates, writes this worker's horizon and drops the generations no event can match. */
  run(): Promise<void>;
  /** Takes this worker out of the horizon (it stopped). */
  leave(): Promise<void>;
}

/**
 * Keeps the dedup table's generations: starts a new one every window, and drops, whole, each
 * one whose rows can no longer match an event still to come. A row of generation g arrived
 * before g ended; a copy arriving later than the window after it is a new event; and no live
 * worker holds anything older than the horizon. So g goes once
 * end(g) + window + slack < horizon: an event waiting in the log keeps its generations.
 */
export function createDedupMaintenance(deps: {
  db: Db;
  logger: Logger;
  workerId: string;
  windowMs: number;
  clock: () => number;
  /** This worker's standing in the log (see ArrivalTracker.standing). */
  standing: (now: number) => number | undefined;
  /** Told the generations dropped. */
  dropped?: (gens: number[]) => void;
}): DedupMaintenance {
  const { db, logger, workerId, windowMs, clock } = deps;
  // A generation as long as the window: earlier copies are in this one or the one before.
  const windowDays = Math.max(1, Math.ceil(windowMs / 86_400_000));
  const guarded = async (what: () => Promise<void>) => {
    try {
      await what();
    } catch (err) {
      logger.warn({ err }, 'dedup maintenance failed; will retry');
    }
  };
  const rotate = async () => {
    await rotateGeneration(db, dayNumber(clock()), windowDays);
  };
  return {
    rotate: () => guarded(rotate),
    run: () =>
      guarded(async () => {
        const now = clock();
        await rotate();
        const here = deps.standing(now);
        if (here !== undefined) {
          await writeHorizon(db, workerId, here);
        }
        const low = await horizon(db, HORIZON_LIVE_MS);
        if (low === undefined) {
          return;
        }
        const dropped = await dropGenerationsEndedBy(
          db,
          dayNumber(Math.min(low, now) - windowMs - HORIZON_SLACK_MS),
        );
        if (dropped.length > 0) {
          deps.dropped?.(dropped);
          logger.info({ generations: dropped }, 'dropped dedup generations past the window');
        }
      }),
    leave: () => removeHorizon(db, workerId).catch(() => undefined),
  };
}

function oldestArrival(events: CanonicalEvent[]): number {
  let low = Infinity;
  for (const e of events) {
    if (typeof e?.received_at === 'number' && e.received_at < low) {
      low = e.received_at;
    }
  }
  return low;
}
