import type { CanonicalEvent } from '../events/event.js';
import { DAY_MS } from '../events/time.js';
import type { Db, Queryable } from './db.js';
import type { SeenIds } from './seen-ids.js';

/**
 * The dedup table, partitioned by arrival generation (migration 0005): a run of days in which
 * the aggregator wrote rows, as long as the dedup window, named by its first UTC day (days since
 * 1970-01-01). Batches write only into the current generation, under a share lock on the
 * `dedup_state` row; starting the next one (or dropping old ones) updates that row, so it waits
 * for every batch in flight and no batch can write an id into another partition meanwhile.
 */
export const dayNumber = (ms: number): number => Math.floor(ms / DAY_MS);

const partition = (gen: number) => `event_ids_g${Math.trunc(gen)}`;

interface Generations {
  /** The generation written now. */
  current: number;
  /** Every generation present, ascending (the current one last). */
  all: number[];
}

/**
 * What a batch's transaction learnt when it took the generations' share lock: the monthly path
 * rollups' watermark (migrations/0014), read in the same statement. While the lock is held it
 * cannot move, so a batch whose path rows fall before it adds them to the months too.
 */
export interface HeldState {
  /** Days before this one (YYYY-MM-DD) are in the monthly path tables; null: none. */
  pathsCompactedBefore?: string | null;
}

/**
 * The oldest arrival time that an earlier copy of this event can have, if that copy is to count
 * as the same event: the window before this copy's arrival. An id Tally generated itself
 * (a UUIDv7 stamped with this very arrival) has no copies but its own redeliveries, which all
 * share this arrival: only generations from that day on can hold it. That keeps the lookup in
 * older partitions off the common path.
 */
function earliestCopyMs(e: CanonicalEvent, windowMs: number): number {
  const id = e.event_id;
  if (id.length === 36 && id[14] === '7' && id[8] === '-') {
    const stamp = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    if (stamp === e.received_at) {
      return e.received_at;
    }
  }
  return e.received_at - windowMs;
}

/** The generation holding arrivals of day `day`: the last one starting on or before it. */
function generationHolding(g: Generations, day: number): number {
  let found = g.all[0] ?? g.current;
  for (const gen of g.all) {
    if (gen <= day) {
      found = gen;
    }
  }
  return found;
}

/**
 * Takes the generations' share lock (first, before any other lock) and reads them, and the
 * monthly path watermark into `held`.
 */
async function lockGenerations(tx: Queryable, held?: HeldState): Promise<Generations> {
  const r = await tx.query<{ gen: number; gens: number[]; w: string | null }>(
    '/* aggregate:dedup-generation */ SELECT gen, gens, paths_compacted_before::text AS w FROM dedup_state FOR SHARE',
  );
  const row = r.rows[0]!;
  if (held) {
    held.pathsCompactedBefore = row.w;
  }
  return { current: row.gen, all: row.gens };
}

/** What else `insertEventIds` takes. */
export interface InsertOptions {
  /** Receives what the lock's statement read besides (pass it on to `writeRollups`). */
  held?: HeldState;
  /**
   * Called once the batch's longest statement (its main insert) is on its way to the database:
   * CPU work done then overlaps it (the aggregator prepares the next batch) instead of holding
   * up a shorter statement's reply.
   */
  whileInserting?: () => void;
  /**
   * The ids written so far, when this process is the table's only writer (the embedded
   * database): the ids it surely does not hold go in with a plain INSERT (see seen-ids.ts).
   */
  seen?: SeenIds;
}

/**
 * Writes the ids of events already unique within their batch and returns the events that are
 * new: not written before by a copy that arrived within `windowMs` of this one. Must be the
 * first statement of its transaction (it takes the generation lock).
 *
 * The usual batches, all new or (redelivered) none new, are told apart by the row count alone;
 * only a mixed batch asks which rows this transaction wrote: those whose xmin is its own.
 */
export async function insertEventIds(
  tx: Queryable,
  unsorted: CanonicalEvent[],
  windowMs: number,
  opts: InsertOptions = {},
): Promise<CanonicalEvent[]> {
  const g = await lockGenerations(tx, opts.held);
  // In id order: two transactions inserting ids they share wait for each other in the same
  // order, never in a cycle (no deadlock between concurrent batches or workers).
  const events = unsorted
    .slice()
    .sort((a, b) => (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
  const { seen } = opts;
  if (seen === undefined) {
    return insertChecked(tx, g, events, windowMs, opts.whileInserting);
  }
  const maybe: CanonicalEvent[] = [];
  const surelyNew: CanonicalEvent[] = [];
  for (const e of events) {
    (seen.mayHold(e.event_id) ? maybe : surelyNew).push(e);
  }
  const checked =
    maybe.length > 0
      ? await insertChecked(
          tx,
          g,
          maybe,
          windowMs,
          surelyNew.length === 0 ? opts.whileInserting : undefined,
        )
      : [];
  if (surelyNew.length > 0) {
    const inserting = tx.query(
      `/* aggregate:dedup-new */ INSERT INTO ${partition(g.current)} (gen, event_id, received_ms) SELECT $1::int4, * FROM unnest($2::text[], $3::int8[])`,
      [g.current, surelyNew.map((e) => e.event_id), surelyNew.map((e) => e.received_at)],
    );
    opts.whileInserting?.();
    try {
      await inserting;
    } catch (err) {
      if ((err as { code?: unknown }).code === UNIQUE_VIOLATION) {
        seen.distrust();
        throw new Error(
          'an event id the dedup filter did not hold was in the table (another writer?): the filter is off, the batch is applied again with every id checked',
          { cause: err },
        );
      }
      throw err;
    }
  }
  const written = checked.length === 0 ? surelyNew : surelyNew.concat(checked);
  for (const e of written) {
    seen.add(g.current, e.event_id);
  }
  return written;
}

const UNIQUE_VIOLATION = '23505';

/**
 * The ids of `events` (sorted, unique) that no copy within the window wrote before, written
 * into the current generation: looked up in older generations, then inserted with
 * `ON CONFLICT DO NOTHING`.
 */
async function insertChecked(
  tx: Queryable,
  g: Generations,
  sorted: CanonicalEvent[],
  windowMs: number,
  whileInserting?: () => void,
): Promise<CanonicalEvent[]> {
  const gen = g.current;
  let events = sorted;
  let from = gen;
  const older = events.filter((e) => {
    const holder = generationHolding(g, dayNumber(earliestCopyMs(e, windowMs)));
    from = Math.min(from, holder);
    return holder < gen;
  });
  if (older.length > 0) {
    // One index probe per id (a lateral lookup): with `event_id = ANY(…)` the planner chose a
    // parallel sequential scan of a partition under about a million rows, 5-10x slower.
    const r = await tx.query<{ event_id: string; received_ms: string | number }>(
      '/* aggregate:dedup-older */ SELECT u.id AS event_id, m.received_ms FROM unnest($3::text[]) AS u(id) CROSS JOIN LATERAL (SELECT max(received_ms) AS received_ms FROM event_ids e WHERE e.event_id = u.id AND e.gen >= $1 AND e.gen < $2) AS m WHERE m.received_ms IS NOT NULL',
      [from, gen, older.map((e) => e.event_id)],
    );
    if (r.rows.length > 0) {
      const firstMs = new Map(r.rows.map((row) => [row.event_id, Number(row.received_ms)]));
      events = events.filter((e) => {
        const ms = firstMs.get(e.event_id);
        return ms === undefined || ms < earliestCopyMs(e, windowMs);
      });
      if (events.length === 0) {
        return [];
      }
    }
  }
  const ids = events.map((e) => e.event_id);
  const table = partition(gen);
  const inserting = tx.query(
    `/* aggregate:dedup */ INSERT INTO ${table} (gen, event_id, received_ms) SELECT $1::int4, * FROM unnest($2::text[], $3::int8[]) ON CONFLICT DO NOTHING`,
    [gen, ids, events.map((e) => e.received_at)],
  );
  whileInserting?.();
  const r = await inserting;
  if (r.rowCount === events.length) {
    return events;
  }
  if (r.rowCount === 0) {
    return [];
  }
  const mine = await tx.query<{ event_id: string }>(
    `/* aggregate:dedup-mixed */ SELECT event_id FROM ${table} WHERE event_id = ANY($1::text[]) AND xmin = pg_current_xact_id()::xid`,
    [ids],
  );
  const fresh = new Set(mine.rows.map((row) => row.event_id));
  return events.filter((e) => fresh.has(e.event_id));
}

/**
 * Runs `fn` holding the generations exclusively: the row update waits for every batch in
 * flight and holds back new ones before they touch `event_ids`, so DDL on its partitions
 * cannot deadlock with them.
 */
async function exclusively<T>(
  db: Db,
  fn: (tx: Queryable, g: Generations) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ gen: number; gens: number[] }>(
      '/* aggregate:dedup-exclusive */ UPDATE dedup_state SET gen = gen RETURNING gen, gens',
    );
    const row = r.rows[0]!;
    return fn(tx, { current: row.gen, all: row.gens });
  });
}

export async function generations(db: Queryable): Promise<Generations> {
  const r = await db.query<{ gen: number; gens: number[] }>('SELECT gen, gens FROM dedup_state');
  return { current: r.rows[0]!.gen, all: r.rows[0]!.gens };
}

/**
 * Starts a new generation on day `today` (creating its partition) once the current one is
 * `spanDays` old. Returns whether it did.
 */
export async function rotateGeneration(db: Db, today: number, spanDays: number): Promise<boolean> {
  const due = (g: Generations) => today >= g.current + spanDays;
  if (!due(await generations(db))) {
    return false;
  }
  return exclusively(db, async (tx, g) => {
    if (!due(g)) {
      return false;
    }
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${partition(today)} PARTITION OF event_ids FOR VALUES IN (${Math.trunc(today)})`,
    );
    await tx.query('UPDATE dedup_state SET gen = $1, gens = array_append(gens, $1)', [today]);
    return true;
  });
}

/**
 * Drops, whole, every generation that ended (the next one started) on or before day
 * `endedBy`; never the current one. Returns the generations dropped.
 */
export async function dropGenerationsEndedBy(db: Db, endedBy: number): Promise<number[]> {
  const old = (g: Generations) =>
    g.all.filter((gen, i) => i + 1 < g.all.length && g.all[i + 1]! <= endedBy);
  if (old(await generations(db)).length === 0) {
    return [];
  }
  return exclusively(db, async (tx, g) => {
    const dropped = old(g);
    for (const gen of dropped) {
      await tx.query(`DROP TABLE IF EXISTS ${partition(gen)}`);
    }
    await tx.query('UPDATE dedup_state SET gens = $1::int4[]', [
      g.all.filter((gen) => !dropped.includes(gen)),
    ]);
    return dropped;
  });
}

/** Records where this worker stands in the log (see migration 0005). */
export async function writeHorizon(db: Queryable, worker: string, lowMs: number): Promise<void> {
  await db.query(
    '/* aggregate:horizon */ INSERT INTO dedup_horizon (worker, low_ms, seen_at) VALUES ($1, $2, now()) ON CONFLICT (worker) DO UPDATE SET low_ms = EXCLUDED.low_ms, seen_at = now()',
    [worker, Math.trunc(lowMs)],
  );
}

export async function removeHorizon(db: Queryable, worker: string): Promise<void> {
  await db.query('DELETE FROM dedup_horizon WHERE worker = $1', [worker]);
}

/**
 * The oldest arrival any live worker still holds or has just applied; workers silent for
 * `liveMs` are left out (their entries are taken over by others within seconds), and their
 * rows are deleted after a day. Undefined when no worker has reported.
 */
export async function horizon(db: Queryable, liveMs: number): Promise<number | undefined> {
  await db.query("DELETE FROM dedup_horizon WHERE seen_at < now() - interval '1 day'");
  const r = await db.query<{ low: string | number | null }>(
    "SELECT min(low_ms) AS low FROM dedup_horizon WHERE seen_at > now() - $1 * interval '1 millisecond'",
    [liveMs],
  );
  const low = r.rows[0]?.low;
  return low === null || low === undefined ? undefined : Number(low);
}
