import type { CanonicalEvent } from '../events/event.js';
import { DAY_MS } from '../events/time.js';
import type { Db, Queryable } from '../storage/db.js';

/**
 * The dedup table, partitioned by arrival generation (migration 0005): a generation is the UTC
 * day, counted from 1970-01-01, in which the aggregator wrote the row. Batches write only into
 * the current generation, under a share lock on the `dedup_state` row; moving to the next one
 * (or dropping old ones) updates that row, so it waits for every batch in flight and no batch
 * can write an id into another partition at the same time.
 */
export const generationOf = (ms: number): number => Math.floor(ms / DAY_MS);

const partition = (gen: number) => `event_ids_g${Math.trunc(gen)}`;

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

/** Takes the generation's share lock (first, before any other lock) and returns it. */
async function currentGeneration(tx: Queryable): Promise<number> {
  const r = await tx.query<{ gen: number }>(
    '/* aggregate:dedup-generation */ SELECT gen FROM dedup_state FOR SHARE',
  );
  return r.rows[0]!.gen;
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
): Promise<CanonicalEvent[]> {
  const gen = await currentGeneration(tx);
  // In id order: two transactions inserting ids they share wait for each other in the same
  // order, never in a cycle (no deadlock between concurrent batches or workers).
  let events = unsorted
    .slice()
    .sort((a, b) => (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
  let from = gen;
  const older = events.filter((e) => {
    const g = generationOf(earliestCopyMs(e, windowMs));
    from = Math.min(from, g);
    return g < gen;
  });
  if (older.length > 0) {
    const r = await tx.query<{ event_id: string; received_ms: string | number }>(
      '/* aggregate:dedup-older */ SELECT event_id, max(received_ms) AS received_ms FROM event_ids WHERE gen >= $1 AND gen < $2 AND event_id = ANY($3::text[]) GROUP BY event_id',
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
  const r = await tx.query(
    `/* aggregate:dedup */ INSERT INTO ${table} (gen, event_id, received_ms) SELECT $1::int4, * FROM unnest($2::text[], $3::int8[]) ON CONFLICT DO NOTHING`,
    [gen, ids, events.map((e) => e.received_at)],
  );
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
 * Runs `fn` holding the generation exclusively: the row update waits for every batch in flight
 * and holds back new ones before they touch `event_ids`, so DDL on its partitions cannot
 * deadlock with them.
 */
async function exclusively<T>(db: Db, fn: (tx: Queryable, gen: number) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ gen: number }>(
      '/* aggregate:dedup-exclusive */ UPDATE dedup_state SET gen = gen RETURNING gen',
    );
    return fn(tx, r.rows[0]!.gen);
  });
}

/** Moves writing to generation `gen` (creating its partition) when it is newer. */
export async function rotateGeneration(db: Db, gen: number): Promise<boolean> {
  const cur = await db.query<{ gen: number }>('SELECT gen FROM dedup_state');
  if (cur.rows[0]!.gen >= gen) {
    return false;
  }
  return exclusively(db, async (tx, now) => {
    if (now >= gen) {
      return false;
    }
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${partition(gen)} PARTITION OF event_ids FOR VALUES IN (${Math.trunc(gen)})`,
    );
    await tx.query('UPDATE dedup_state SET gen = $1', [gen]);
    return true;
  });
}

/** The generations present, oldest first, with the current one. */
export async function generations(db: Queryable): Promise<{ current: number; all: number[] }> {
  const cur = await db.query<{ gen: number }>('SELECT gen FROM dedup_state');
  const r = await db.query<{ name: string }>(
    "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'event_ids'::regclass",
  );
  const all = r.rows
    .map((row) => /^event_ids_g(\d+)$/.exec(row.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  return { current: cur.rows[0]!.gen, all };
}

/** Drops, whole, every generation older than `keepFrom` (never the current one). */
export async function dropGenerationsBefore(db: Db, keepFrom: number): Promise<number[]> {
  const { all } = await generations(db);
  if (!all.some((g) => g < keepFrom)) {
    return [];
  }
  return exclusively(db, async (tx, current) => {
    const dropped = all.filter((g) => g < keepFrom && g < current);
    for (const g of dropped) {
      await tx.query(`DROP TABLE IF EXISTS ${partition(g)}`);
    }
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
