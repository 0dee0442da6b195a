import { deriveDimensions } from '../dimensions/derive.js';
import type { CanonicalEvent } from '../events/event.js';
import type { Logger } from '../logger.js';
import { isRetriableDbError, type Db } from '../storage/db.js';
import { saveCheckpoint } from '../storage/checkpoints.repo.js';
import { addDeadLetters } from '../storage/dead-letters.repo.js';
import { addDrops } from '../storage/drop-ledger.repo.js';
import { insertEventIds } from '../storage/event-ids.repo.js';
import { applyRollups } from '../storage/rollups.repo.js';
import type { KnownKeys } from '../rollups/known-keys.js';
import type { Batch, Undecodable } from '../transport/transport.js';
import { applyIsolating } from './isolate.js';
import { unstorableReason } from './storable.js';

export interface ApplyTotals {
  counted: number;
  /** New events left out as bots (BOTS=drop). */
  bots: number;
  duplicates: number;
  deadLettered: number;
}

type Checkpoint = Batch['checkpoint'];

/**
 * Applies one batch: drop in-batch duplicates, insert event ids (ON CONFLICT DO NOTHING), roll
 * up only the new events, all in one transaction with the drops, the dead letters and the
 * checkpoint. A data error is isolated by bisection and the poison event dead-lettered.
 */
export function createBatchApplier(deps: {
  db: Db;
  logger: Logger;
  dedupWindowMs: number;
  /** (site, day, user) rows known to be stored: not sent again. */
  knownUsers: KnownKeys;
  totals: ApplyTotals;
  /** Bot events: `drop` (counted as drop reason `bot` only) or `count` (like people). */
  bots?: 'drop' | 'count';
}): (batch: Batch) => Promise<void> {
  const { db, logger, knownUsers, totals } = deps;

  async function applyOnce(
    events: CanonicalEvent[],
    checkpoint: Checkpoint,
    undecodable: readonly Undecodable[] = [],
  ): Promise<void> {
    const now = Date.now();
    const seen = new Set<string>();
    const fresh: CanonicalEvent[] = [];
    const dead: { event: unknown; reason: string }[] = undecodable.map(asDeadLetter);
    let duplicates = 0;
    for (const e of events) {
      const reason = unstorableReason(e);
      if (reason !== undefined) {
        dead.push({ event: e, reason });
      } else if (seen.has(e.event_id)) {
        duplicates++;
      } else {
        seen.add(e.event_id);
        fresh.push(e);
      }
    }
    let usersWritten: string[] = [];
    let bots = 0;
    const counted = await db.transaction(async (tx) => {
      // First: it takes the dedup generation's share lock.
      const newEvents = fresh.length > 0 ? await insertEventIds(tx, fresh, deps.dedupWindowMs) : [];
      duplicates += fresh.length - newEvents.length;
      // Derived once here, after dedup: only new events cost a derivation.
      const written = await applyRollups(tx, newEvents, knownUsers, undefined, {
        dims: newEvents.map(deriveDimensions),
        bots: deps.bots ?? 'drop',
        now,
      });
      usersWritten = written.keys;
      bots = written.bots;
      await addDeadLetters(tx, dead);
      await addDrops(tx, now, { duplicate: duplicates, dead_letter: dead.length, bot: bots });
      if (checkpoint) {
        await saveCheckpoint(tx, checkpoint.name, checkpoint.position);
      }
      return newEvents.length - bots;
    });
    for (const k of usersWritten) {
      knownUsers.add(k);
    }
    totals.counted += counted;
    totals.bots += bots;
    totals.duplicates += duplicates;
    totals.deadLettered += dead.length;
  }

  async function deadLetter(
    event: CanonicalEvent,
    err: unknown,
    checkpoint: Checkpoint,
    undecodable: readonly Undecodable[],
  ) {
    const reason = `storage rejected the event: ${(err as Error).message}`;
    logger.warn({ eventId: event.event_id, reason }, 'dead-lettering an event');
    const dead = [{ event, reason }, ...undecodable.map(asDeadLetter)];
    await db.transaction(async (tx) => {
      await addDeadLetters(tx, dead);
      await addDrops(tx, Date.now(), { dead_letter: dead.length });
      if (checkpoint) {
        await saveCheckpoint(tx, checkpoint.name, checkpoint.position);
      }
    });
    totals.deadLettered += dead.length;
  }

  return (batch) => {
    // The undecodable entries go with the first part of the batch that commits.
    let undecodable = batch.undecodable ?? [];
    const taken = () => {
      const u = undecodable;
      undecodable = [];
      return u;
    };
    return applyIsolating(batch.events, batch.checkpoint, {
      apply: async (items, last) => {
        await applyOnce(items, last, undecodable);
        undecodable = [];
      },
      isRetriable: isRetriableDbError,
      deadLetter: (item, err, last) => deadLetter(item, err, last, taken()),
    });
  };
}

/** An undecodable entry is stored as its raw text (a JSON string), under its reason. */
const asDeadLetter = (u: Undecodable) => ({
  event: u.payload,
  reason: `undecodable log entry: ${u.reason}`,
});
