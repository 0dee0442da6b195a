/**
 * The dedup table as it grows, old design against new, in the same run on the PostgreSQL server.
 *
 * Old (migrations 0001 + 0004): one table `event_ids (event_id text COLLATE "C" PRIMARY KEY,
 * ts_ms bigint)` with a BRIN index on ts_ms, written with one `INSERT … SELECT * FROM unnest()
 * ON CONFLICT DO NOTHING` of sorted ids and purged with `DELETE … WHERE ts_ms < $1`. It is
 * created here, in a schema of its own, from that SQL.
 * New (migration 0005): `event_ids` LIST-partitioned by arrival generation (a run of
 * DEDUP_WINDOW_DAYS days, named by its first day), written by Tally's own `insertEventIds` and
 * purged by `dropGenerationsEndedBy`.
 *
 * For each size, a fresh database holds both designs, pre-filled with the same rows by
 * server-side SQL: time-ordered UUIDv7 ids arriving at a steady rate over the 10.5 days before
 * the run, laid out in the new design as it holds them half-way through a generation: the
 * previous generation full (a window, 2/3 of the rows) and the current one half full. Then
 * batches of new ids, one transaction each, alternate between the two designs for a few seconds
 * per kind of id; the median of the batches' rates is reported. Then the previous generation is
 * purged from both (the old design also on its own, one day first). Counts are checked all
 * along (every new id written once, repeated ids refused, each purge removing exactly its
 * rows), so that --quick checks correctness with tiny sizes.
 */
import { randomUUID } from 'node:crypto';
import {
  dropGenerationsEndedBy,
  generations,
  insertEventIds,
} from '../../src/storage/event-ids.repo.js';
import type { CanonicalEvent } from '../../src/events/event.js';
import { uuidv7 } from '../../src/events/uuidv7.js';
import { migrate } from '../../src/storage/migrate.js';
import { createPgDb } from '../../src/storage/pg-db.js';
import { createDatabase, throwawayName } from '../../test/harness/databases.js';
import type { BenchOptions } from './options.js';
import { fmtInt, fmtK, type Progress } from './progress.js';
import { fmtRows, median } from './report.js';
import { SERVICES, ensureServices } from './services.js';
import type { BatchRates, DedupGrowthResult, DedupIdKind, DedupSizeResult } from './types.js';

const DAY_MS = 86_400_000;
/** Tally's default dedup window (DEDUP_WINDOW_DAYS=7). */
const WINDOW_DAYS = 7;
const WINDOW_MS = WINDOW_DAYS * DAY_MS;
/** The pre-fill's span: a full previous generation and half the current one. */
const SPAN_MS = 1.5 * WINDOW_MS;
const GENERATIONS = 2;
/** The aggregator's default batch (AGG_BATCH_MAX_EVENTS). */
const BATCH = 5000;
const MIN_BATCHES = 3;
const KINDS: DedupIdKind[] = ['tally', 'client-ordered', 'client-random'];

const OLD_DDL = [
  'CREATE SCHEMA v4',
  'CREATE TABLE v4.event_ids (event_id text COLLATE "C" PRIMARY KEY, ts_ms bigint NOT NULL)',
  'CREATE INDEX event_ids_ts_brin ON v4.event_ids USING brin (ts_ms)',
];
/** The aggregator's dedup insert before migration 0005 (ids sorted). */
const OLD_INSERT =
  'INSERT INTO v4.event_ids (event_id, ts_ms) SELECT * FROM unnest($1::text[], $2::int8[]) ON CONFLICT DO NOTHING';
const OLD_PURGE = 'DELETE FROM v4.event_ids WHERE ts_ms < $1';

/**
 * Row `i` of the pre-fill, as SQL over `i` (bigint) and `ms` (its time, epoch ms): a UUIDv7
 * stamped `ms`, with a counter and a hash of `i` as its random bits; rows in `i` order are in
 * id order, so the pre-fill appends at the right of each index as a steady stream would.
 */
const ID_SQL =
  "(lpad(to_hex((ms << 16) | 28672 | (i & 4095)), 16, '0') || " +
  "lpad(to_hex((hashint8extended(i, 1) & 4611686018427387903) | (-9223372036854775807 - 1)), 16, '0'))::uuid::text";
/** Rows `lo` ≤ i < `hi` of `rows` spread evenly over SPAN_MS from `$1`: (i, ms). */
const rowsSql = (lo: number, hi: number, rows: number) =>
  `SELECT i, $1::int8 + i * ${SPAN_MS}::int8 / ${rows}::int8 AS ms FROM generate_series(${lo}::int8, ${hi - 1}::int8) AS i`;

export async function runDedupGrowth(
  opts: BenchOptions,
  tag: string,
  progress: Progress,
): Promise<DedupGrowthResult> {
  await ensureServices({ postgres: true });
  const secondsPerSeries = opts.quick ? 0.2 : 3;
  const sizes: DedupSizeResult[] = [];
  for (const [n, rows] of opts.dedupSizes.entries()) {
    sizes.push(
      await measureSize(rows, `${tag}_dd${n}`, secondsPerSeries, progress, opts.injectFault),
    );
  }
  return {
    batch: BATCH,
    generations: GENERATIONS,
    secondsPerSeries,
    sizes,
    exact: sizes.every((s) => s.exact),
  };
}

async function measureSize(
  rows: number,
  tag: string,
  seconds: number,
  progress: Progress,
  injectFault: boolean,
): Promise<DedupSizeResult> {
  const label = `[dedup ${fmtRows(rows)}]`;
  const out: DedupSizeResult = { rows, inserts: [], exact: true, errors: [] };
  const fail = (msg: string) => {
    out.exact = false;
    out.errors.push(msg);
    progress.log(`${label} NOT EXACT: ${msg}`);
  };
  const database = await createDatabase(SERVICES.pgAdminUrl, throwawayName('bench', tag));
  const db = createPgDb({ url: database.url, poolSize: 2 });
  try {
    await migrate(db);
    for (const sql of OLD_DDL) {
      await db.query(sql);
    }
    const gen = (await db.query<{ gen: number }>('SELECT gen FROM dedup_state')).rows[0]!.gen;
    let expectOld = 0;
    let expectNew = 0;
    // Pre-fill: 10.5 days before now at a steady rate; the previous generation (gen - 7)
    // holds the first 7 days, rows [0, ⌊2·rows/3⌋), the current one the rest; the old table
    // gets the same rows with ts_ms = ms. Up to 907M rows (one per ms of the span) the times
    // are distinct, so the old design's purges by time remove exactly the rows they should.
    const spanFrom = Date.now() - SPAN_MS;
    const prevGen = gen - WINDOW_DAYS;
    const split = Math.floor((2 * rows) / 3);
    const dayRows = Math.floor((rows * DAY_MS) / SPAN_MS);
    // The time of row k, as the SQL computes it (integer division; exact beyond 2^53).
    const cutoffOf = (k: number) => spanFrom + Number((BigInt(k) * BigInt(SPAN_MS)) / BigInt(rows));
    if (rows > 0) {
      await db.query(
        `CREATE TABLE event_ids_g${prevGen} PARTITION OF event_ids FOR VALUES IN (${prevGen})`,
      );
      await db.query('UPDATE dedup_state SET gens = $1::int4[]', [[prevGen, gen]]);
      const t0 = performance.now();
      const ticker = setInterval(
        () =>
          progress.update(
            `${label} pre-filling both designs: ${((performance.now() - t0) / 1000).toFixed(0)} s`,
          ),
        1000,
      );
      try {
        // The two designs fill at once, on two connections (two server processes).
        const [oldS, newS] = await Promise.all([
          timed(() =>
            db.query(
              `INSERT INTO v4.event_ids (event_id, ts_ms) SELECT ${ID_SQL}, ms FROM (${rowsSql(0, rows, rows)}) AS s`,
              [spanFrom],
            ),
          ),
          timed(async () => {
            for (const [g, lo, hi] of [
              [prevGen, 0, split],
              [gen, split, rows],
            ] as const) {
              await db.query(
                `INSERT INTO event_ids_g${g} (gen, event_id, received_ms) SELECT ${g}, ${ID_SQL}, ms FROM (${rowsSql(lo, hi, rows)}) AS s`,
                [spanFrom],
              );
            }
          }),
        ]);
        const vacuumS = await timed(async () => {
          await db.query('VACUUM ANALYZE v4.event_ids');
          await db.query('VACUUM ANALYZE event_ids');
          // Needs superuser or pg_checkpoint; without it the writes of the fill stay pending.
          await db.query('CHECKPOINT').catch(() => undefined);
        });
        out.fill = { oldS: round(oldS, 1), newS: round(newS, 1), vacuumS: round(vacuumS, 1) };
      } finally {
        clearInterval(ticker);
      }
      progress.log(
        `${label} pre-filled ${fmtInt(rows)} rows: old ${out.fill.oldS} s (${fmtK(rows / out.fill.oldS)} rows/s), ` +
          `new ${out.fill.newS} s over ${GENERATIONS} partitions (both at once), VACUUM ANALYZE + CHECKPOINT ${out.fill.vacuumS} s`,
      );
      expectOld = rows;
      expectNew = rows;
    }

    const oldBatch = async (events: CanonicalEvent[]) => {
      const sorted = events.slice().sort((a, b) => cmp(a.event_id, b.event_id));
      const r = await db.transaction((tx) =>
        tx.query(OLD_INSERT, [sorted.map((e) => e.event_id), sorted.map((e) => e.ts)]),
      );
      return r.rowCount;
    };
    const newBatch = async (events: CanonicalEvent[]) =>
      (await db.transaction((tx) => insertEventIds(tx, events, WINDOW_MS))).length;

    for (const kind of KINDS) {
      const both = kind !== 'tally';
      const rates = { old: [] as number[], new: [] as number[] };
      const spent = { old: 0, new: 0 };
      let last: { old?: CanonicalEvent[]; new?: CanonicalEvent[] } = {};
      const enough = (d: 'old' | 'new') => spent[d] >= seconds && rates[d].length >= MIN_BATCHES;
      while (!enough('new') || (both && !enough('old'))) {
        for (const design of both ? (['old', 'new'] as const) : (['new'] as const)) {
          const events = freshBatch(kind, BATCH);
          const t0 = performance.now();
          const written = design === 'old' ? await oldBatch(events) : await newBatch(events);
          const s = (performance.now() - t0) / 1000;
          spent[design] += s;
          rates[design].push(BATCH / s);
          if (written !== BATCH) {
            fail(`${design} design, ${kind} ids: a batch of ${BATCH} new ids wrote ${written}`);
          }
          if (design === 'old') {
            expectOld += written;
          } else {
            expectNew += written;
          }
          last = { ...last, [design]: events };
        }
        progress.update(
          `${label} ${kind} ids: new ${fmtK(median(rates.new) ?? 0)} rows/s` +
            (both ? `, old ${fmtK(median(rates.old) ?? 0)} rows/s` : ''),
        );
      }
      const entry = {
        kind,
        ...(both ? { old: batchRates(rates.old) } : {}),
        new: batchRates(rates.new),
      };
      out.inserts.push(entry);
      progress.log(
        `${label} ${kind} ids, batches of ${BATCH}: new ${fmtInt(entry.new.rowsPerS)} rows/s (${entry.new.batches} batches)` +
          (entry.old
            ? `, old ${fmtInt(entry.old.rowsPerS)} rows/s (${entry.old.batches} batches)`
            : ''),
      );
      // The same batch again (a redelivery): nothing new in either design.
      if (last.old && (await oldBatch(last.old)) !== 0) {
        fail(`old design, ${kind} ids: a repeated batch wrote ids again`);
      }
      if (last.new && (await newBatch(last.new)) !== 0) {
        fail(`new design, ${kind} ids: a repeated batch counted ids again`);
      }
    }

    if (rows > 0) {
      // Client copies of ids that arrived in the previous generation, within the window (its
      // newest rows, 3.5 days old), mixed with fresh ids: only the fresh ones are new (the
      // older-generation lookup and the mixed-batch path of insertEventIds).
      const seen = await db.query<{ event_id: string; received_ms: string }>(
        `SELECT event_id, received_ms FROM event_ids_g${prevGen} ORDER BY event_id DESC LIMIT 500`,
      );
      const now = Date.now();
      const copies: CanonicalEvent[] = seen.rows.map((r) =>
        pageView(r.event_id, Number(r.received_ms), now),
      );
      const fresh = freshBatch('client-ordered', copies.length);
      const got = await db.transaction((tx) =>
        insertEventIds(tx, [...copies, ...fresh], WINDOW_MS),
      );
      const freshIds = new Set(fresh.map((e) => e.event_id));
      if (got.length !== fresh.length || !got.every((e) => freshIds.has(e.event_id))) {
        fail(
          `new design: ${copies.length} copies of older-generation ids + ${fresh.length} fresh ids gave ${got.length} new`,
        );
      }
      expectNew += got.length;
      const oldWritten = await oldBatch([...copies, ...fresh]);
      if (oldWritten !== fresh.length) {
        fail(`old design: ${copies.length} seen + ${fresh.length} fresh ids wrote ${oldWritten}`);
      }
      expectOld += oldWritten;

      // Purge the previous generation (a window of arrivals): new, drop its partition; old,
      // delete the same rows, its oldest day first (what a daily purge of it would delete).
      let dropped: number[] = [];
      const newDropS = await timed(async () => {
        dropped = await dropGenerationsEndedBy(db, gen);
      });
      if (dropped.length !== 1 || dropped[0] !== prevGen) {
        fail(`new design: dropGenerationsEndedBy dropped [${dropped.join(', ')}]`);
      }
      const left = await generations(db);
      if (left.all.length !== 1 || left.all[0] !== gen) {
        fail(`new design: generations [${left.all.join(', ')}] left after the purge`);
      }
      expectNew -= split;
      const oldPurge = async (k: number, expected: number, what: string) => {
        let deleted = 0;
        const deleteS = await timed(async () => {
          deleted = (await db.query(OLD_PURGE, [cutoffOf(k)])).rowCount;
        });
        if (deleted !== expected) {
          fail(`old design: the purge of ${what} deleted ${deleted} rows, not ${expected}`);
        }
        expectOld -= deleted;
        const vacuumS = await timed(() => db.query('VACUUM v4.event_ids'));
        return { deleteMs: deleteS * 1000, vacuumMs: vacuumS * 1000 };
      };
      const day = await oldPurge(dayRows, dayRows, 'the oldest day');
      const rest = await oldPurge(split, split - dayRows, 'the rest of the window');
      out.purge = {
        rows: split,
        newDropMs: round(newDropS * 1000, 1),
        oldDeleteMs: round(day.deleteMs + rest.deleteMs, 1),
        oldVacuumMs: round(day.vacuumMs + rest.vacuumMs, 1),
        dayRows,
        oldDayDeleteMs: round(day.deleteMs, 1),
        oldDayVacuumMs: round(day.vacuumMs, 1),
      };
      progress.log(
        `${label} purge of the previous generation (${fmtInt(split)} rows, a window): new DROP of its partition ` +
          `${out.purge.newDropMs} ms; old DELETE ${fmtInt(out.purge.oldDeleteMs)} ms + VACUUM ${fmtInt(out.purge.oldVacuumMs)} ms ` +
          `(its oldest day, ${fmtInt(dayRows)} rows: ${fmtInt(out.purge.oldDayDeleteMs)} + ${fmtInt(out.purge.oldDayVacuumMs)} ms)`,
      );
    }

    if (injectFault) {
      // Self-test: expect one row too many, so the count check must fail.
      expectNew++;
    }
    const [oldCount, newCount] = await Promise.all([
      db.query<{ n: string }>('SELECT count(*) AS n FROM v4.event_ids'),
      db.query<{ n: string }>('SELECT count(*) AS n FROM event_ids'),
    ]);
    if (Number(oldCount.rows[0]!.n) !== expectOld) {
      fail(`old design holds ${oldCount.rows[0]!.n} rows, expected ${expectOld}`);
    }
    if (Number(newCount.rows[0]!.n) !== expectNew) {
      fail(`new design holds ${newCount.rows[0]!.n} rows, expected ${expectNew}`);
    }
  } catch (err) {
    fail((err as Error).message);
  } finally {
    await db.close();
    await database.drop().catch((err: unknown) => {
      progress.log(`bench: could not drop database ${database.name}: ${(err as Error).message}`);
    });
  }
  return out;
}

/** `count` page views with new ids of the given kind, arriving now. */
function freshBatch(kind: DedupIdKind, count: number): CanonicalEvent[] {
  const now = Date.now();
  const events = new Array<CanonicalEvent>(count);
  for (let j = 0; j < count; j++) {
    if (kind === 'tally') {
      // What the API stamps on an event without an id: a UUIDv7 of its arrival.
      events[j] = pageView(uuidv7(now), now, now);
    } else {
      // A client's own ids: its clock, some time before arrival, in order (or none at all).
      const ts = now - 2000 + Math.floor((j * 1000) / count);
      events[j] = pageView(kind === 'client-ordered' ? uuidv7(ts) : randomUUID(), ts, now);
    }
  }
  return events;
}

const pageView = (eventId: string, ts: number, receivedAt: number): CanonicalEvent => ({
  event_id: eventId,
  type: 'page_view',
  ts,
  received_at: receivedAt,
  site_id: 'bench-dedup',
  path: '/',
  user_id: 'u',
});

function batchRates(rates: number[]): BatchRates {
  const s = rates.slice().sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0);
  return { batches: s.length, rowsPerS: Math.round(median(s) ?? 0), p25: at(0.25), p75: at(0.75) };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
