import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import { Backoff, sleep } from '../retry.js';
import type { Db } from '../storage/db.js';
import { loadCheckpoint } from '../storage/checkpoints.repo.js';
import { addDrops } from '../storage/drop-ledger.repo.js';
import { KnownKeys } from '../rollups/known-keys.js';
import type { Batch, Transport } from '../transport/transport.js';
import { createBatchApplier } from './apply-batch.js';
import { SeenIds } from '../storage/seen-ids.js';
import { createRetention } from './retention.js';
import { createPathMonths } from './path-months.js';
import { ArrivalTracker, createDedupMaintenance } from './dedup-maintenance.js';
import { createUnflushed } from './unflushed.js';

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
  /** Days dead letters and per-user rows are kept (0 or absent: forever). */
  retention?: { deadLetterDays: number; userRowDays: number };
  /** How many committed (site, day, user) keys to remember per generation (two are kept). */
  knownUsers?: number;
  /** Bot events: `drop` (the default; drop reason `bot`) or `count` (like people). */
  bots?: 'drop' | 'count';
}

export interface AggregatorStats {
  batches: number;
  counted: number;
  /** New events left out as bots (BOTS=drop). */
  bots: number;
  duplicates: number;
  deadLettered: number;
  /** Batches applied from what was prepared while the batch before them was applied. */
  preparedAhead: number;
  lastBatchAt: number | undefined;
  lastError: string | undefined;
  /** When the batch that failed last failed (cleared by the next success). */
  lastErrorAt: number | undefined;
  /** Whether `pause()` holds the aggregator (new batches wait in the log). */
  paused: boolean;
  /** The embedded database's dedup filter (seen-ids.ts): whether it is trusted, its ids. */
  dedupFilter?: { ready: boolean; ids: number };
}

export interface Aggregator {
  /**
   * Starts consuming: the log sets up its position now; with `holdBatchesUntil`, the batches
   * wait until it resolves (`tally serve`: until the edge is up, so that a backlog does not hold
   * the embedded database's one thread while the edge loads its sites, keys and salts).
   */
  start(opts?: { holdBatchesUntil?: Promise<unknown> }): Promise<void>;
  /** Stops after the batches in hand; with `drain`, first waits until the log is empty (or the deadline). */
  stop(opts?: { drainUntil?: number }): Promise<void>;
  /** Runs the dedup maintenance now (it also runs every `purgeEveryMs`). */
  maintain(): Promise<void>;
  /**
   * Stops taking new batches: the batches being applied finish, the next ones wait in the log
   * (held, unacknowledged) until `resume()`. Not remembered across a restart. A stop while paused
   * does not drain: what waits is aggregated at the next start.
   */
  pause(): void;
  /** Takes batches again, from where the pause left them. */
  resume(): void;
  stats(): AggregatorStats;
}

/**
 * consume → apply each batch in one transaction with its checkpoint (apply-batch.ts) → the log
 * acks. A batch that failed is rejected and the log redelivers it (transport/deliver.ts owns
 * that policy); the aggregator only records the failure.
 */
export function createAggregator(
  deps: {
    db: Db;
    transport: Transport;
    logger: Logger;
    /** Told each applied batch's size and how long it took (metrics). */
    onBatch?: (events: number, seconds: number) => void;
  },
  opts: AggregatorOptions,
): Aggregator {
  const { db, transport } = deps;
  const logger = deps.logger.child({ component: 'aggregator' });
  const stats: AggregatorStats = {
    batches: 0,
    counted: 0,
    bots: 0,
    duplicates: 0,
    deadLettered: 0,
    preparedAhead: 0,
    lastBatchAt: undefined,
    lastError: undefined,
    lastErrorAt: undefined,
    paused: false,
  };
  const checkpointName = transport.traits.checkpointName;
  let stopping = false;
  /** Aborted by stop(): ends the release's waits. */
  const halt = new AbortController();
  const halted = new Promise<void>((resolve) =>
    halt.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  let held: Promise<unknown> | undefined;
  // While paused, batches wait on `resumed`; resume() and stop() wake them.
  let resumed = Promise.resolve();
  let wake: () => void = () => undefined;
  let consuming: Promise<void> | undefined;
  let purgeTimer: NodeJS.Timeout | undefined;
  // Most events come from a user already counted that day: skip re-sending those rows.
  const knownUsers = new KnownKeys(opts.knownUsers ?? 100_000);
  // The embedded database belongs to this process: its aggregator is the dedup table's only
  // writer, and can know which ids the table surely does not hold (seen-ids.ts).
  const seen = db.kind === 'pglite' ? new SeenIds() : undefined;
  const apply = createBatchApplier({
    db,
    logger,
    dedupWindowMs: opts.dedupWindowMs,
    knownUsers,
    totals: stats,
    bots: opts.bots ?? 'drop',
    seen,
  });
  const arrivals = new ArrivalTracker();
  const dedup = createDedupMaintenance({
    db,
    logger,
    workerId: randomUUID(),
    windowMs: opts.dedupWindowMs,
    clock: opts.clock ?? Date.now,
    standing: (now) => arrivals.standing(now, !pendingIn(transport)),
    dropped: (gens) => seen?.forget(gens),
  });

  const retention = createRetention(db, logger, {
    deadLetterDays: opts.retention?.deadLetterDays ?? 0,
    userRowDays: opts.retention?.userRowDays ?? 0,
    clock: opts.clock ?? Date.now,
  });
  const pathMonths = createPathMonths(db, logger, { clock: opts.clock ?? Date.now });
  let maintaining: Promise<void> | undefined;
  /** Dedup generations, the monthly path rollups, then retention; one pass at a time. */
  const maintain = () =>
    (maintaining ??= (async () => {
      await dedup.run();
      await seen?.fill(db, logger, { stopped: () => stopping }); // again, if filling failed
      await pathMonths();
      await retention();
    })().finally(() => {
      maintaining = undefined;
    }));

  const unflushed = createUnflushed({
    db,
    logger,
    checkpointName,
    // Only a log that holds batches until released lets storage commit asynchronously.
    enabled: transport.traits.holdsUntilReleased,
    apply,
    // The database came back without what it had committed last: rows this process saw
    // committed may be gone, so forget which user rows are stored rather than trust it.
    onReopen: () => knownUsers.clear(),
  });
  const releaseBackoff = new Backoff(100, 5000);
  /**
   * The log's `release`: never rejects while running (a rejection would stop the log's
   * consumer): retried with backoff until storage holds every acknowledged batch durably.
   */
  async function release(): Promise<void> {
    for (;;) {
      try {
        await unflushed.flush();
        releaseBackoff.reset();
        return;
      } catch (err) {
        if (stopping) {
          throw err;
        }
        const delayMs = releaseBackoff.next();
        stats.lastError = (err as Error).message;
        stats.lastErrorAt = Date.now();
        logger.error({ err, delayMs }, 'storage cannot make the log durable yet; retrying');
        await sleep(delayMs, halt.signal);
      }
    }
  }

  async function handle(batch: Batch): Promise<void> {
    if (held) {
      await held;
      if (halt.signal.aborted) {
        throw new Error('the aggregator stopped before it took this batch; it stays in the log');
      }
      held = undefined;
    }
    while (stats.paused && !stopping) {
      await resumed;
    }
    if (stats.paused) {
      // Stopped while paused: rejected, so the log keeps the batch for the next start.
      throw new Error('the aggregator stopped while paused; the batch stays in the log');
    }
    arrivals.hold(batch, batch.events);
    const t0 = performance.now();
    try {
      await unflushed.recover();
      await apply(batch);
      deps.onBatch?.(batch.events.length, (performance.now() - t0) / 1000);
    } catch (err) {
      stats.lastError = (err as Error).message;
      stats.lastErrorAt = Date.now();
      logger.error(
        { err, events: batch.events.length },
        'storage unavailable; batch not acknowledged, retrying',
      );
      // The database may come back from a failover or a restore without rows this process
      // saw committed: forget which user rows are stored rather than trust it.
      knownUsers.clear();
      if (stopping) {
        arrivals.dropped(batch);
      }
      throw err;
    }
    arrivals.applied(batch);
    stats.batches++;
    stats.lastBatchAt = Date.now();
    stats.lastError = undefined;
    stats.lastErrorAt = undefined;
    await unflushed.add(batch);
  }

  return {
    async start(o = {}) {
      held = o.holdBatchesUntil && Promise.race([o.holdBatchesUntil, halted]);
      const name = checkpointName;
      const checkpoint = name === undefined ? undefined : await loadCheckpoint(db, name);
      consuming = transport.consume(handle, {
        checkpoint,
        maxBatchEvents: opts.batchMaxEvents,
        maxWaitMs: opts.batchMaxWaitMs,
        concurrency: opts.concurrency ?? 1,
        release,
        prepare: (batch) => apply.prepare(batch),
        onLost: async (loss) => {
          // A count the log cannot tell is at least one; a known 0 (all it lost was in hand,
          // so counted all the same) adds nothing: the incident is in the log and in /health.
          await addDrops(db, Date.now(), { log_lost: loss.events ?? 1 });
          logger.error(loss, 'the log lost events it had acknowledged; counted as log_lost');
        },
      });
      consuming.catch((err: unknown) => logger.error({ err }, 'consumer stopped'));
      await dedup.rotate();
      // In the background, once the batches may start (the edge loads first): until it is
      // filled, batches check every id.
      if (seen !== undefined) {
        void Promise.resolve(held)
          .catch(() => undefined)
          .then(() => (stopping ? undefined : seen.fill(db, logger, { stopped: () => stopping })));
      }
      purgeTimer = setInterval(() => void maintain(), opts.purgeEveryMs ?? 60_000);
      purgeTimer.unref();
    },
    async stop(o = {}) {
      if (o.drainUntil !== undefined) {
        // Not while storage cannot write: what is left stays in the log for the next start.
        while (
          !stats.paused &&
          pendingIn(transport) &&
          Date.now() < o.drainUntil &&
          db.writeState().writable
        ) {
          await sleep(20);
        }
      }
      stopping = true;
      halt.abort();
      clearInterval(purgeTimer);
      // Aborts the consumer first, so that the batches a pause holds are given back, not retried.
      const stopped = transport.stopConsuming();
      wake();
      await stopped;
      await consuming?.catch(() => undefined);
      await dedup.leave();
    },
    maintain,
    pause() {
      if (!stats.paused) {
        stats.paused = true;
        resumed = new Promise<void>((resolve) => (wake = resolve));
        logger.info('paused: new batches wait in the log');
      }
    },
    resume() {
      if (stats.paused) {
        stats.paused = false;
        wake();
        logger.info('resumed');
      }
    },
    stats: () => ({
      ...stats,
      ...(seen === undefined ? {} : { dedupFilter: { ready: seen.ready, ids: seen.size } }),
    }),
  };
}

const pendingIn = (t: Transport) => {
  const s = t.stats();
  return s.state === 'up' && (s.waiting > 0 || (s.bytes ?? 0) > 0);
};
