import { AppError } from '../errors.js';
import type { CanonicalEvent } from '../events/event.js';
import type { Logger } from '../logger.js';
import type { Queryable } from '../storage/db.js';
import {
  countReplayable,
  markReplayed,
  newestDeadLetterId,
  replayableBatch,
  replayStates,
  type ReplayFilter,
  type ReplayWindow,
} from '../storage/dead-letters.repo.js';

export type { ReplayFilter };

/** What to replay; `afterId`, `throughId` and `limit` page a long replay (the CLI's progress). */
export interface ReplayRequest {
  filter: ReplayFilter;
  /** Replays dead letters already replayed, too. */
  again: boolean;
  /** Starts after this dead letter (the `last_id` of the previous page). */
  afterId?: number | undefined;
  /** Covers dead letters up to this id (the `through_id` of the first page); default: the newest. */
  throughId?: number | undefined;
  /** Looks at no more than this many dead letters; default: all that are selected. */
  limit?: number | undefined;
}

export interface ReplaySkip {
  id: number;
  reason: string;
}

export interface ReplayResult {
  /** Payloads sent back to the log and marked replayed. */
  replayed: number;
  /** Selected but not sent: the reasons of the first MAX_LISTED_SKIPS are in `skips`. */
  skipped: number;
  skips: ReplaySkip[];
  /** The last dead letter looked at (0: none): `afterId` of the next page. */
  last_id: number;
  /** The newest dead letter this replay covers: `throughId` of the next page. */
  through_id: number;
  /** Selected dead letters after `last_id` not yet looked at (0 unless `limit` stopped it). */
  remaining: number;
}

export interface ReplayProgress {
  /** Dead letters looked at, of `total` selected. */
  done: number;
  total: number;
  replayed: number;
  skipped: number;
}

export type Replay = (
  req: ReplayRequest,
  onProgress?: (p: ReplayProgress) => void,
) => Promise<ReplayResult>;

export const MAX_LISTED_SKIPS = 100;
/** Payloads per publish: below the edge's default MAX_EVENTS_PER_REQUEST, a size every log takes. */
const BATCH_ROWS = 500;

export const ALREADY_REPLAYED = 'already replayed (again: replay it anyway)';

/** The event in a stored payload, or why there is none to send. */
export function payloadEvent(payload: string): CanonicalEvent | string {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return 'payload is not valid JSON';
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as CanonicalEvent)
    : 'payload is not a JSON object';
}

/**
 * Replays dead letters: each stored payload goes back through the event log, in batches, and
 * its row is marked (`replayed_at`, `replays`) once the log holds it. The aggregator counts it
 * as any event: the dedup table makes a second replay (or a crash between publish and mark,
 * which leaves the row unmarked) count nothing twice, and an event that fails again becomes a
 * new dead letter with its new reason while the old row stays marked. A payload that is not a
 * JSON object is skipped and reported; it stays unmarked.
 */
export function createDeadLetterReplay(deps: {
  db: Queryable;
  /** The log's publish (`Transport.publish`): resolves once the events are durable in it. */
  publish: (events: CanonicalEvent[]) => Promise<void>;
  logger: Logger;
}): Replay {
  const { db } = deps;
  const logger = deps.logger.child({ component: 'dead-letters' });
  return async (req, onProgress) => {
    const throughId = req.throughId ?? (await newestDeadLetterId(db));
    const w: ReplayWindow = { afterId: req.afterId ?? 0, throughId, again: req.again };
    const limit = req.limit ?? Infinity;
    const result: ReplayResult = {
      replayed: 0,
      skipped: 0,
      skips: [],
      last_id: w.afterId,
      through_id: throughId,
      remaining: 0,
    };
    const skip = (id: number, reason: string) => {
      result.skipped++;
      if (result.skips.length < MAX_LISTED_SKIPS) {
        result.skips.push({ id, reason });
      }
    };
    if ('ids' in req.filter && req.afterId === undefined) {
      // Asked for by id but not selected: say why, once (on the first page).
      const ids = [...new Set(req.filter.ids)].sort((a, b) => a - b);
      const states = await replayStates(db, ids, throughId);
      for (const id of ids) {
        const replayed = states.get(id);
        if (replayed === undefined) {
          skip(id, 'no such dead letter');
        } else if (replayed && !req.again) {
          skip(id, ALREADY_REPLAYED);
        }
      }
    }
    const total = await countReplayable(db, req.filter, w);
    let done = 0;
    onProgress?.({ done, total, replayed: 0, skipped: result.skipped });
    while (done < limit) {
      const rows = await replayableBatch(
        db,
        req.filter,
        { ...w, afterId: result.last_id },
        Math.min(BATCH_ROWS, limit - done),
      );
      if (rows.length === 0) {
        break;
      }
      const events: CanonicalEvent[] = [];
      const sent: number[] = [];
      for (const row of rows) {
        const e = payloadEvent(row.payload);
        if (typeof e === 'string') {
          skip(row.id, e);
        } else {
          events.push(e);
          sent.push(row.id);
        }
      }
      if (events.length > 0) {
        await publish(events, result.replayed);
        await markReplayed(db, sent);
      }
      result.replayed += sent.length;
      result.last_id = rows[rows.length - 1]!.id;
      done += rows.length;
      onProgress?.({ done, total, replayed: result.replayed, skipped: result.skipped });
    }
    if (done >= limit) {
      result.remaining = await countReplayable(db, req.filter, { ...w, afterId: result.last_id });
    }
    logger.info(
      { replayed: result.replayed, skipped: result.skipped, remaining: result.remaining },
      'dead letters replayed',
    );
    return result;
  };

  async function publish(events: CanonicalEvent[], before: number): Promise<void> {
    try {
      await deps.publish(events);
    } catch (err) {
      if (err instanceof AppError) {
        throw new AppError(
          err.code,
          `${err.message} (${before} replayed before; the rest are unchanged: replay again to go on)`,
          err.statusCode,
          undefined,
          err.retryAfterS,
        );
      }
      throw err;
    }
  }
}
