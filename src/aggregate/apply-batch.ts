import { deriveDimensions } from '../dimensions/derive.js';
import type { Dimensions } from '../dimensions/derive.js';
import type { CanonicalEvent } from '../events/event.js';
import type { Logger } from '../logger.js';
import { isRetriableDbError, type Db } from '../storage/db.js';
import { saveCheckpoint } from '../storage/checkpoints.repo.js';
import { addDeadLetters } from '../storage/dead-letters.repo.js';
import { addDrops } from '../storage/drop-ledger.repo.js';
import { insertEventIds, type HeldState } from '../storage/event-ids.repo.js';
import type { SeenIds } from '../storage/seen-ids.js';
import { prepareRollups, writeRollups, type PreparedRollups } from '../storage/rollups.repo.js';
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
  /** Batches applied from what `prepare` did ahead of them. */
  preparedAhead: number;
}

type Checkpoint = Batch['checkpoint'];

/**
 * Applies one batch: drop in-batch duplicates, insert event ids (ON CONFLICT DO NOTHING), roll
 * up only the new events, all in one transaction with the drops, the dead letters and the
 * checkpoint. A data error is isolated by bisection and the poison event dead-lettered.
 */
export interface BatchApplier {
  (batch: Batch): Promise<void>;
  /**
   * Does a batch's CPU work ahead of its transaction: the in-batch dedup, each event's
   * dimensions and the rollup write as if every event were new (the usual case). The embedded
   * log hands it the next batch while the current one is applied; the work is done while a
   * batch's dedup insert runs on the database's thread (the longest statement: the main
   * thread's event loop is not needed then), and applying the batch reuses it, or redoes the
   * rollups for the events the dedup table let through.
   */
  prepare(batch: Batch): void;
}

/** A batch split up before its transaction (see `BatchApplier.prepare`). */
interface Prepared {
  fresh: CanonicalEvent[];
  dead: { event: unknown; reason: string }[];
  duplicates: number;
  dims: Dimensions[];
  rollups: PreparedRollups;
}

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
  /** The ids written, when this process is the dedup table's only writer (see seen-ids.ts). */
  seen?: SeenIds;
}): BatchApplier {
  const { db, logger, knownUsers, totals } = deps;
  const bots = deps.bots ?? 'drop';
  /** Batches prepared ahead, until applied (a batch redelivered after a failure reuses it). */
  const prepared = new WeakMap<Batch, Prepared>();
  /** Handed to `prepare`, to be prepared while the current batch's dedup insert runs. */
  let pending: Batch | undefined;
  /** Whether a batch's dedup insert is on the database's thread now. */
  let inserting = false;
  const preparePending = () => {
    const b = pending;
    pending = undefined;
    if (b !== undefined && !prepared.has(b)) {
      prepared.set(b, split(b.events, b.undecodable ?? [], Date.now()));
    }
  };

  function split(events: CanonicalEvent[], undecodable: readonly Undecodable[], now: number) {
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
    // Derived once, before the transaction: only events new to this batch cost a derivation.
    const dims = fresh.map(deriveDimensions);
    const rollups = prepareRollups(fresh, knownUsers, { dims, bots, now });
    return { fresh, dead, duplicates, dims, rollups };
  }

  async function applyOnce(
    events: CanonicalEvent[],
    checkpoint: Checkpoint,
    undecodable: readonly Undecodable[] = [],
    ahead?: Prepared,
  ): Promise<void> {
    const now = Date.now();
    const p = ahead ?? split(events, undecodable, now);
    const { fresh, dead } = p;
    let duplicates = p.duplicates;
    let usersWritten: string[] = [];
    let botsLeftOut = 0;
    const counted = await db.transaction(async (tx) => {
      // First: it takes the dedup generation's share lock.
      const held: HeldState = {};
      const newEvents =
        fresh.length > 0
          ? await insertEventIds(tx, fresh, deps.dedupWindowMs, {
              held,
              whileInserting: () => {
                inserting = true;
                preparePending();
              },
              seen: deps.seen,
            }).finally(() => (inserting = false))
          : [];
      duplicates += fresh.length - newEvents.length;
      let rollups = p.rollups;
      if (newEvents.length < fresh.length) {
        // Some were seen before: the rollups of the new ones only.
        const dimsOf = new Map(fresh.map((e, i) => [e, p.dims[i]!]));
        rollups = prepareRollups(newEvents, knownUsers, {
          dims: newEvents.map((e) => dimsOf.get(e)!),
          bots,
          now,
        });
      }
      // With the monthly path watermark read under the lock (late days add to their months).
      const written = await writeRollups(tx, rollups, undefined, held);
      usersWritten = written.keys;
      botsLeftOut = written.bots;
      await addDeadLetters(tx, dead);
      await addDrops(tx, now, {
        duplicate: duplicates,
        dead_letter: dead.length,
        bot: botsLeftOut,
      });
      if (checkpoint) {
        await saveCheckpoint(tx, checkpoint.name, checkpoint.position);
      }
      return newEvents.length - botsLeftOut;
    });
    for (const k of usersWritten) {
      knownUsers.add(k);
    }
    totals.counted += counted;
    totals.bots += botsLeftOut;
    totals.duplicates += duplicates;
    totals.deadLettered += dead.length;
    if (ahead !== undefined) {
      totals.preparedAhead++;
    }
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

  const applier = (batch: Batch): Promise<void> => {
    // The undecodable entries go with the first part of the batch that commits.
    let undecodable = batch.undecodable ?? [];
    const taken = () => {
      const u = undecodable;
      undecodable = [];
      return u;
    };
    if (pending === batch) {
      pending = undefined; // its turn came first: split in its own transaction
    }
    const ahead = prepared.get(batch);
    return applyIsolating(batch.events, batch.checkpoint, {
      apply: async (items, last) => {
        // What was prepared holds the whole batch; a part of it (bisection) is split again.
        const whole = items === batch.events;
        await applyOnce(items, last, undecodable, whole ? ahead : undefined);
        undecodable = [];
      },
      isRetriable: isRetriableDbError,
      deadLetter: (item, err, last) => deadLetter(item, err, last, taken()),
    });
  };
  return Object.assign(applier, {
    prepare(batch: Batch): void {
      pending = batch;
      if (inserting) {
        preparePending(); // handed over while an insert runs: now is the time
      }
    },
  });
}

/** An undecodable entry is stored as its raw text (a JSON string), under its reason. */
const asDeadLetter = (u: Undecodable) => ({
  event: u.payload,
  reason: `undecodable log entry: ${u.reason}`,
});
