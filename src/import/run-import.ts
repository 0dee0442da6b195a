import { applyDeltas, applyRollups } from '../storage/rollups.repo.js';
import { dayNumber, insertEventIds, rotateGeneration } from '../storage/event-ids.repo.js';
import { adCountDeltas, type AdMinuteCounts } from '../rollups/rollup.js';
import type { CanonicalEvent } from '../events/event.js';
import { normalizeEvent, type NormalizeOptions } from '../events/normalize.js';
import type { Db } from '../storage/db.js';
import { advanceImport, beginImport, finishImport, type ImportState } from './imports.repo.js';
import type { ImportSource, SourceProgress } from './source.js';

export interface ImportOptions {
  /** The import's name: its position and totals are kept under it. */
  name: string;
  /** Records per transaction. */
  batchRecords: number;
  /** Stop at the first refused record (what came before it is committed). */
  strict: boolean;
  /**
   * Deduplicate by `event_id` through the live dedup table, as the API does: a repeated id in
   * the source, or an event also sent to the API within the window, counts once. Without it
   * (`--no-dedup`, for sources whose ids are known unique) every record is counted, exactly
   * once per import through its position alone.
   */
  dedup: { windowMs: number } | undefined;
  normalize: Pick<NormalizeOptions, 'minTsMs' | 'maxFutureMs'>;
  onProgress?: (p: ImportProgress) => void;
  now?: () => number;
}

export interface ImportProgress {
  records: number;
  imported: number;
  refused: number;
  source: SourceProgress;
}

export interface ImportSummary {
  name: string;
  source: string;
  /** Totals over every run of this import. */
  records: number;
  imported: number;
  refused: Record<string, number>;
  /** Records read by this run, and the first refusals it met, with where they are. */
  thisRun: { records: number; imported: number };
  examples: { where: string; reason: string; message: string }[];
  resumed: boolean;
}

export class StrictImportStopped extends Error {}

const MAX_EXAMPLES = 20;

interface Pending {
  events: CanonicalEvent[];
  counts: AdMinuteCounts[];
  records: number;
  refused: Record<string, number>;
  position: string | undefined;
}

const emptyBatch = (): Pending => ({
  events: [],
  counts: [],
  records: 0,
  refused: {},
  position: undefined,
});

/**
 * Reads a source after the import's committed position and applies it in batches, each in one
 * transaction with the new position, so that a re-run or a resume after kill -9 counts every
 * record exactly once. One batch is applied while the next is read and validated.
 */
export async function runImport(
  db: Db,
  source: ImportSource,
  opts: ImportOptions,
): Promise<ImportSummary> {
  const now = opts.now ?? Date.now;
  const state: ImportState = await beginImport(
    db,
    opts.name,
    source.description,
    await source.fingerprint(),
  );
  if (opts.dedup) {
    // Ids go into a current generation, as live events do, even if no worker ran lately.
    const windowDays = Math.max(1, Math.ceil(opts.dedup.windowMs / 86_400_000));
    await rotateGeneration(db, dayNumber(now()), windowDays);
  }
  const resumed = state.position !== undefined;
  let totals = { records: state.records, imported: state.imported, refused: state.refused };
  const run = { records: 0, imported: 0 };
  const examples: ImportSummary['examples'] = [];
  let refusedThisRun = 0;
  const report = () =>
    opts.onProgress?.({
      records: run.records,
      imported: run.imported,
      refused: refusedThisRun,
      source: source.progress(),
    });

  // One batch is applied while the next is read and validated. Never two at once: each moves
  // the position on from the one before it, and a later batch that overlapped an earlier one
  // in the database could find the position not yet moved, or wait on rows the earlier one
  // waits for (measured: two at once gained about 10 %, and the ordering cannot be kept
  // without a lock that serialises them anyway).
  let dispatched = state.position;
  const apply = async (b: Pending, from: string | undefined) => {
    const { imported, after } = await db.transaction(async (tx) => {
      const events =
        opts.dedup && b.events.length > 0
          ? await insertEventIds(tx, uniqueIds(b.events), opts.dedup.windowMs)
          : b.events;
      // On a server, the user rows (a set) are written on a second connection meanwhile; they
      // commit before this transaction does, so a crash in between only repeats them.
      await applyRollups(tx, events, undefined, db.kind === 'postgres' ? db : undefined);
      if (b.counts.length > 0) {
        await applyDeltas(tx, adCountDeltas(b.counts));
      }
      const n = events.length + b.counts.length;
      const t = await advanceImport(tx, state.name, from, b.position!, {
        records: b.records,
        imported: n,
        refused: b.refused,
      });
      return { imported: n, after: t };
    });
    totals = after;
    run.records += b.records;
    run.imported += imported;
    report();
  };
  let applying: Promise<void> | undefined;
  const drain = async () => {
    const p = applying;
    applying = undefined;
    await p;
  };
  const flush = async (b: Pending) => {
    if (b.position === undefined) {
      return;
    }
    await drain();
    applying = apply(b, dispatched);
    dispatched = b.position;
    // Awaited by the next flush or drain; a rejection is not left unhandled meanwhile.
    applying.catch(() => undefined);
  };

  let batch = emptyBatch();
  const refuse = (where: string, reason: string, message: string) => {
    batch.refused[reason] = (batch.refused[reason] ?? 0) + 1;
    refusedThisRun++;
    if (examples.length < MAX_EXAMPLES) {
      examples.push({ where, reason, message });
    }
  };
  try {
    for await (const rec of source.read(state.position)) {
      if (rec.kind === 'event') {
        const r = normalizeEvent(
          rec.event,
          0,
          { now: rec.receivedAt ?? now() },
          { ...opts.normalize, visitorSalt: () => '' },
        );
        if (r.ok) {
          // History carries no IP or user agent: no cookieless visitor hash is made of nothing.
          delete r.event.vh;
          batch.events.push(r.event);
        } else {
          const first = r.errors[0]!;
          const reason = first.reason ?? `invalid ${first.field || 'record'}`;
          refuse(rec.where, reason, r.errors.map((e) => `${e.field} ${e.message}`).join('; '));
        }
      } else if (rec.kind === 'ad-counts') {
        const at = rec.counts.minuteMs;
        if (at < opts.normalize.minTsMs) {
          refuse(
            rec.where,
            'too_old',
            `bucket ${new Date(at).toISOString()} is before MIN_EVENT_TS`,
          );
        } else if (at > now() + opts.normalize.maxFutureMs) {
          refuse(
            rec.where,
            'invalid bucket',
            `bucket ${new Date(at).toISOString()} is in the future`,
          );
        } else {
          batch.counts.push(rec.counts);
        }
      } else {
        refuse(rec.where, rec.reason, rec.message);
      }
      if (opts.strict && refusedThisRun > 0) {
        const bad = examples[examples.length - 1]!;
        // Everything before the refused record is committed; the record itself is not passed.
        batch.refused = {};
        await flush(batch);
        await drain();
        throw new StrictImportStopped(`${bad.where}: ${bad.reason}: ${bad.message}`);
      }
      batch.records++;
      batch.position = rec.position;
      if ((batch.records & 1023) === 0 && applying) {
        // Reading runs on promises alone while lines are buffered, which would keep the batch in
        // the database from hearing back between its statements: let its replies in.
        await new Promise((r) => setImmediate(r));
      }
      if (batch.records >= opts.batchRecords) {
        await flush(batch);
        batch = emptyBatch();
      }
    }
    await flush(batch);
    await drain();
  } catch (err) {
    // Whatever failed, the batch in the database finishes (or fails) before the source closes.
    await applying?.catch(() => undefined);
    throw err;
  } finally {
    await source.close();
  }
  await finishImport(db, opts.name);
  return {
    name: opts.name,
    source: source.description,
    records: totals.records,
    imported: totals.imported,
    refused: totals.refused,
    thisRun: run,
    examples,
    resumed,
  };
}

/** The dedup insert takes each id once; a repeated id within a batch counts once anyway. */
function uniqueIds(events: CanonicalEvent[]): CanonicalEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.event_id) && seen.add(e.event_id));
}
