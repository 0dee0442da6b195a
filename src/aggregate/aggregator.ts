import { randomUUID } from 'node:crypto';
import type { CanonicalEvent } from '../events/event.js';
import type { Logger } from '../logger.js';
import { Backoff, sleep } from '../retry.js';
import { isRetriableDbError, type Db } from '../storage/db.js';
import { addDrops } from '../storage/drop-ledger.repo.js';
import type { Batch, Transport } from '../transport/transport.js';
import { loadCheckpoint, saveCheckpoint } from '../storage/checkpoints.repo.js';
import { addDeadLetters } from '../storage/dead-letters.repo.js';
import { applyRollups } from '../storage/rollups.repo.js';
import {
  dayNumber,
  dropGenerationsEndedBy,
  horizon,
  insertEventIds,
  removeHorizon,
  rotateGeneration,
  writeHorizon,
} from '../storage/event-ids.repo.js';
import { KnownKeys } from '../rollups/known-keys.js';
import { unstorableReason } from './storable.js';

export interface AggregatorOptions {
  batchMaxEvents: number;
  /** Under light load, how long a batch may wait to grow before it is applied. */
  batchMaxWaitMs: number;
  /** Batches applied at once, each in its own transaction (Redis Streams, Kafka partitions). */
  concurrency?: number;
  dedupWindowMs: number;
  /** How often the dedup generation is rotated, this worker's horizon written and old generations dropped. */
  purgeEveryMs?: number;
  /** The clock that decides generations and horizons (tests move it). */
  clock?: () => number;
  /** How many committed (site, day, user) keys to remember per generation (two are kept). */
  knownUsers?: number;
}

export interface AggregatorStats {
  batches: number;
  counted: number;
  duplicates: number;
  deadLettered: number;
  lastBatchAt: number | undefined;
  lastError: string | undefined;
}

export interface Aggregator {
  start(): Promise<void>;
  /** Stops after the batches in hand; with `drain`, first waits until the log is empty (or the deadline). */
  stop(opts?: { drainUntil?: number }): Promise<void>;
  /** Runs the dedup maintenance now (it also runs every `purgeEveryMs`). */
  maintain(): Promise<void>;
  stats(): AggregatorStats;
}

/**
 * consume → drop in-batch duplicates → insert event ids (ON CONFLICT DO NOTHING) → roll up only
 * the new events → one transaction with the checkpoint → then the log acks.
 */
export function createAggregator(
  deps: { db: Db; transport: Transport; log: Logger },
  opts: AggregatorOptions,
): Aggregator {
  const { db, transport } = deps;
  const log = deps.log.child({ component: 'aggregator' });
  const stats: AggregatorStats = {
    batches: 0,
    counted: 0,
    duplicates: 0,
    deadLettered: 0,
    lastBatchAt: undefined,
    lastError: undefined,
  };
  let stopping = false;
  let consuming: Promise<void> | undefined;
  let purgeTimer: NodeJS.Timeout | undefined;
  const clock = opts.clock ?? Date.now;
  // A generation as long as the window: earlier copies are in this one or the one before.
  const windowDays = Math.max(1, Math.ceil(opts.dedupWindowMs / 86_400_000));
  const workerId = randomUUID();
  const inHand = new Map<Batch, number>();
  let appliedLow = Infinity;
  // Most events come from a user already counted that day: skip re-sending those rows.
  const knownUsers = new KnownKeys(opts.knownUsers ?? 100_000);

  /** One transaction: dedup rows, rollups, drops, dead letters and the checkpoint. */
  async function applyOnce(
    events: CanonicalEvent[],
    checkpoint: Batch['checkpoint'],
  ): Promise<void> {
    const now = Date.now();
    const seen = new Set<string>();
    const fresh: CanonicalEvent[] = [];
    const dead: { event: unknown; reason: string }[] = [];
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
    const counted = await db.transaction(async (tx) => {
      // First: it takes the dedup generation's share lock.
      const newEvents = fresh.length > 0 ? await insertEventIds(tx, fresh, opts.dedupWindowMs) : [];
      duplicates += fresh.length - newEvents.length;
      usersWritten = await applyRollups(tx, newEvents, knownUsers);
      await addDeadLetters(tx, dead);
      await addDrops(tx, now, { duplicate: duplicates, dead_letter: dead.length });
      if (checkpoint) {
        await saveCheckpoint(tx, checkpoint.name, checkpoint.position);
      }
      return newEvents.length;
    });
    for (const k of usersWritten) {
      knownUsers.add(k);
    }
    stats.counted += counted;
    stats.duplicates += duplicates;
    stats.deadLettered += dead.length;
  }

  /** A data error (not retriable) is isolated by bisection; the poison event is dead-lettered. */
  async function applyIsolating(
    events: CanonicalEvent[],
    checkpoint: Batch['checkpoint'],
  ): Promise<void> {
    try {
      await applyOnce(events, checkpoint);
    } catch (err) {
      if (isRetriableDbError(err)) {
        throw err;
      }
      if (events.length === 1) {
        const reason = `storage rejected the event: ${(err as Error).message}`;
        log.warn({ eventId: events[0]!.event_id, reason }, 'dead-lettering an event');
        await db.transaction(async (tx) => {
          await addDeadLetters(tx, [{ event: events[0], reason }]);
          await addDrops(tx, Date.now(), { dead_letter: 1 });
          if (checkpoint) {
            await saveCheckpoint(tx, checkpoint.name, checkpoint.position);
          }
        });
        stats.deadLettered++;
        return;
      }
      const mid = Math.ceil(events.length / 2);
      await applyIsolating(events.slice(0, mid), undefined);
      await applyIsolating(events.slice(mid), checkpoint);
    }
  }

  async function handle(batch: Batch): Promise<void> {
    const backoff = new Backoff(100, 5000);
    const low = oldestArrival(batch.events);
    inHand.set(batch, low);
    for (;;) {
      try {
        await applyIsolating(batch.events, batch.checkpoint);
        inHand.delete(batch);
        appliedLow = Math.min(appliedLow, low);
        stats.batches++;
        stats.lastBatchAt = Date.now();
        stats.lastError = undefined;
        return;
      } catch (err) {
        stats.lastError = (err as Error).message;
        // The database may come back from a failover or a restore without rows this process
        // saw committed: forget which user rows are stored rather than trust it.
        knownUsers.clear();
        if (stopping) {
          inHand.delete(batch);
          throw err;
        }
        const delayMs = backoff.next();
        log.error(
          { err, delayMs, events: batch.events.length },
          'storage unavailable; batch not acknowledged, retrying',
        );
        await sleep(delayMs);
      }
    }
  }

  /**
   * Where this worker stands in the log: the oldest arrival among the batches it holds or has
   * applied since the last call; now when it holds nothing and the log is empty; undefined when
   * it has not yet read anything of a backlog (say nothing rather than guess).
   */
  function standing(now: number): number | undefined {
    let low = appliedLow;
    for (const l of inHand.values()) {
      low = Math.min(low, l);
    }
    appliedLow = Infinity;
    if (low !== Infinity) {
      return low;
    }
    return pendingIn(transport) ? undefined : now;
  }

  /**
   * Keeps the dedup table's generations: starts a new one every window, and drops, whole, each
   * one whose rows can no longer match an event still to come. A row of generation g arrived
   * before g ended; a copy arriving later than the window after it is a new event; and no live
   * worker holds anything older than the horizon. So g goes once
   * end(g) + window + slack < horizon: an event waiting in the log keeps its generations.
   */
  async function maintainDedup(rotateOnly = false): Promise<void> {
    try {
      const now = clock();
      await rotateGeneration(db, dayNumber(now), windowDays);
      if (rotateOnly) {
        return;
      }
      const here = standing(now);
      if (here !== undefined) {
        await writeHorizon(db, workerId, here);
      }
      const low = await horizon(db, HORIZON_LIVE_MS);
      if (low === undefined) {
        return;
      }
      const dropped = await dropGenerationsEndedBy(
        db,
        dayNumber(Math.min(low, now) - opts.dedupWindowMs - HORIZON_SLACK_MS),
      );
      if (dropped.length > 0) {
        log.info({ generations: dropped }, 'dropped dedup generations past the window');
      }
    } catch (err) {
      log.warn({ err }, 'dedup maintenance failed; will retry');
    }
  }

  return {
    async start() {
      const name = transport.traits.checkpointName;
      const checkpoint = name === undefined ? undefined : await loadCheckpoint(db, name);
      consuming = transport.consume(handle, {
        checkpoint,
        maxBatchEvents: opts.batchMaxEvents,
        maxWaitMs: opts.batchMaxWaitMs,
        concurrency: opts.concurrency ?? 1,
        release: () => flushDurably(db, name),
      });
      consuming.catch((err: unknown) => log.error({ err }, 'consumer stopped'));
      await maintainDedup(true);
      purgeTimer = setInterval(() => void maintainDedup(), opts.purgeEveryMs ?? 60_000);
      purgeTimer.unref();
    },
    async stop(o = {}) {
      if (o.drainUntil !== undefined) {
        while (pendingIn(transport) && Date.now() < o.drainUntil) {
          await sleep(20);
        }
      }
      stopping = true;
      clearInterval(purgeTimer);
      await transport.stopConsuming();
      await consuming?.catch(() => undefined);
      await removeHorizon(db, workerId).catch(() => undefined);
    },
    maintain: () => maintainDedup(),
    stats: () => ({ ...stats }),
  };
}

/** Workers silent for this long are left out of the horizon: others take over their entries. */
const HORIZON_LIVE_MS = 10 * 60_000;
/** Arrival order in a log is not exact across API processes and reclaimed entries. */
const HORIZON_SLACK_MS = 3_600_000;

const oldestArrival = (events: CanonicalEvent[]) => {
  let low = Infinity;
  for (const e of events) {
    if (typeof e?.received_at === 'number' && e.received_at < low) {
      low = e.received_at;
    }
  }
  return low;
};

const pendingIn = (t: Transport) => {
  const s = t.stats();
  return s.state === 'up' && (s.waiting > 0 || (s.bytes ?? 0) > 0);
};

/**
 * One synchronous commit: PostgreSQL flushes the WAL up to it, so every earlier (asynchronous)
 * commit is durable too. The embedded database commits batches with synchronous_commit off.
 */
async function flushDurably(db: Db, checkpoint: string | undefined): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SET LOCAL synchronous_commit = on');
    await tx.query('UPDATE consumer_checkpoints SET updated_at = now() WHERE name = $1', [
      checkpoint ?? '',
    ]);
  });
}
