import type { Logger } from '../logger.js';
import { loadCheckpoint } from '../storage/checkpoints.repo.js';
import type { Db } from '../storage/db.js';
import type { Batch } from '../transport/transport.js';

/**
 * A synchronous commit at least every this many events committed asynchronously: bounds the
 * events kept in memory to apply again, for one WAL flush per 10 000 events.
 */
export const MAX_UNFLUSHED_EVENTS = 10_000;

export interface Unflushed {
  /** After a batch was applied: kept until a synchronous commit covers it. */
  add(batch: Batch): Promise<void>;
  /** Applies again what a reopened database lost (nothing if it was not reopened). */
  recover(): Promise<void>;
  /** One synchronous commit, after recover(): every batch applied so far is durable. */
  flush(): Promise<void>;
}

/**
 * The batches committed asynchronously (synchronous_commit off) and not yet covered by a
 * synchronous commit. Under the embedded log a crash loses them together with the process and
 * the log replays them from the stored position; but the embedded database can also be reopened
 * inside a running process (after a full disk: pglite-db.ts), while the log, which has handed
 * them out already, goes on after them. They are applied again from here, those after the
 * position the reopened database holds; the dedup rows make that count nothing twice.
 */
export function createUnflushed(deps: {
  db: Db;
  logger: Logger;
  checkpointName: string | undefined;
  enabled: boolean;
  apply: (batch: Batch) => Promise<void>;
  onReopen: () => void;
}): Unflushed {
  const { db, logger } = deps;
  const kept: Batch[] = [];
  let keptEvents = 0;
  let reopensSeen = db.reopens();

  async function recover(): Promise<void> {
    const reopens = db.reopens();
    if (reopens === reopensSeen) {
      return;
    }
    deps.onReopen();
    const name = deps.checkpointName;
    const durable = name === undefined ? undefined : await loadCheckpoint(db, name);
    const at = kept.findIndex((b) => b.checkpoint?.position === durable);
    const lost = kept.slice(at + 1);
    logger.warn(
      { batches: lost.length, events: lost.reduce((n, b) => n + b.events.length, 0) },
      'the database was reopened; applying again the batches it lost',
    );
    for (const b of lost) {
      await deps.apply(b);
    }
    reopensSeen = reopens;
  }

  async function flush(): Promise<void> {
    await recover();
    const n = kept.length;
    const reopens = db.reopens();
    await flushDurably(db, deps.checkpointName);
    if (db.reopens() === reopens) {
      for (const b of kept.splice(0, n)) {
        keptEvents -= b.events.length;
      }
    }
  }

  return {
    async add(batch) {
      if (!deps.enabled) {
        return;
      }
      kept.push(batch);
      keptEvents += batch.events.length;
      if (keptEvents >= MAX_UNFLUSHED_EVENTS) {
        // The batch is applied: a failed flush only leaves it kept, for recover() to handle.
        await flush().catch((err: unknown) =>
          logger.warn({ err }, 'synchronous commit failed; the batches stay kept'),
        );
      }
    },
    recover: () => (deps.enabled ? recover() : Promise.resolve()),
    flush: () => (deps.enabled ? flush() : flushDurably(db, deps.checkpointName)),
  };
}

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
