import type { CanonicalEvent } from '../events/event.js';
import { dayOf } from '../events/time.js';
import type { Queryable } from '../storage/db.js';
import type { KnownKeys } from './known-keys.js';
import { computeRollups, TABLES, type Row } from './rollup.js';

const cmp = (a: Row, b: Row, n: number): number => {
  for (let i = 0; i < n; i++) {
    const x = String(a[i]);
    const y = String(b[i]);
    if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
};

const columns = (rows: Row[], width: number): unknown[][] =>
  Array.from({ length: width }, (_, i) => rows.map((r) => r[i]));

/**
 * Adds counter deltas with one statement per table. Rows go in sorted key order so that two
 * workers touching the same rows lock them in the same order (no deadlocks).
 */
async function upsertCounters(tx: Queryable, key: string, rows: Row[]): Promise<void> {
  const t = TABLES[key]!;
  const n = t.keys.length;
  rows.sort((a, b) => cmp(a, b, n));
  const minima = t.minima ?? [];
  const cols = [...t.keys.map((k) => k.name), ...t.counters, ...minima];
  const types = [
    ...t.keys.map((k) => k.type),
    ...t.counters.map(() => 'int8'),
    ...minima.map(() => 'int8'),
  ];
  const sql =
    `/* aggregate:upsert-${t.table} */ INSERT INTO ${t.table} (${cols.join(', ')}) ` +
    `SELECT * FROM unnest(${types.map((ty, i) => `$${i + 1}::${ty}[]`).join(', ')}) ` +
    `ON CONFLICT (${t.keys.map((k) => k.name).join(', ')}) DO UPDATE SET ` +
    [
      ...t.counters.map((c) => `${c} = ${t.table}.${c} + EXCLUDED.${c}`),
      ...minima.map((c) => `${c} = LEAST(${t.table}.${c}, EXCLUDED.${c})`),
    ].join(', ');
  await tx.query(sql, columns(rows, cols.length));
}

/**
 * Inserts the ids of events already unique within their batch and returns the events that were
 * new (the others were counted before). The usual batches, all new or (redelivered) none new,
 * are told apart by the row count alone, without sending the ids back; only a mixed batch asks
 * which rows this transaction wrote: those whose xmin is its own transaction id.
 */
export async function insertEventIds(
  tx: Queryable,
  unsorted: CanonicalEvent[],
): Promise<CanonicalEvent[]> {
  // In id order: two transactions inserting ids they share wait for each other in the same
  // order, never in a cycle (no deadlock between concurrent batches or workers).
  const events = unsorted
    .slice()
    .sort((a, b) => (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
  const ids = events.map((e) => e.event_id);
  const r = await tx.query(
    '/* aggregate:dedup */ INSERT INTO event_ids (event_id, ts_ms) SELECT * FROM unnest($1::text[], $2::int8[]) ON CONFLICT DO NOTHING',
    [ids, events.map((e) => e.ts)],
  );
  if (r.rowCount === events.length) {
    return events;
  }
  if (r.rowCount === 0) {
    return [];
  }
  const mine = await tx.query<{ event_id: string }>(
    '/* aggregate:dedup-mixed */ SELECT event_id FROM event_ids WHERE event_id = ANY($1::text[]) AND xmin = pg_current_xact_id()::xid',
    [ids],
  );
  const fresh = new Set(mine.rows.map((row) => row.event_id));
  return events.filter((e) => fresh.has(e.event_id));
}

/**
 * Adds the rollup deltas of new events. Unique-user rows that `known` holds are committed
 * already and are not sent again; returns the keys of the user rows written, for the caller to
 * add to `known` once the transaction has committed.
 */
export async function applyRollups(
  tx: Queryable,
  events: CanonicalEvent[],
  known?: KnownKeys,
): Promise<string[]> {
  const { deltas, users } = computeRollups(events);
  for (const key of [...deltas.keys()].sort()) {
    await upsertCounters(tx, key, [...deltas.get(key)!.values()]);
  }
  const keys: string[] = [];
  const rows: Row[] = [];
  for (const [k, row] of users) {
    if (!known?.has(k)) {
      keys.push(k);
      rows.push(row);
    }
  }
  if (rows.length > 0) {
    rows.sort((a, b) => cmp(a, b, 3));
    await tx.query(
      '/* aggregate:users */ INSERT INTO site_daily_users (site_id, day, user_key) SELECT * FROM unnest($1::text[], $2::date[], $3::text[]) ON CONFLICT DO NOTHING',
      columns(rows, 3),
    );
  }
  return keys;
}

export async function addDrops(
  tx: Queryable,
  now: number,
  drops: Record<string, number>,
): Promise<void> {
  const reasons = Object.keys(drops)
    .filter((r) => drops[r]! > 0)
    .sort();
  if (reasons.length === 0) {
    return;
  }
  await tx.query(
    '/* aggregate:drops */ INSERT INTO drop_ledger (day, reason, events) SELECT $1::date, * FROM unnest($2::text[], $3::int8[]) ON CONFLICT (day, reason) DO UPDATE SET events = drop_ledger.events + EXCLUDED.events',
    [dayOf(now), reasons, reasons.map((r) => drops[r])],
  );
}

export async function addDeadLetters(
  tx: Queryable,
  items: { event: unknown; reason: string }[],
): Promise<void> {
  if (items.length === 0) {
    return;
  }
  await tx.query(
    '/* aggregate:dead-letter */ INSERT INTO dead_letters (event_id, reason, payload) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])',
    [
      items.map((i) => {
        const id = (i.event as { event_id?: unknown } | null)?.event_id;
        return typeof id === 'string' ? id.replace(/\u0000/g, '') : null;
      }),
      items.map((i) => i.reason.replace(/\u0000/g, '')),
      // JSON.stringify escapes NUL as \u0000 text, which a text column accepts.
      items.map((i) => JSON.stringify(i.event) ?? 'undefined'),
    ],
  );
}

export async function saveCheckpoint(tx: Queryable, name: string, position: string): Promise<void> {
  await tx.query(
    '/* aggregate:checkpoint */ INSERT INTO consumer_checkpoints (name, position, updated_at) VALUES ($1, $2, now()) ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()',
    [name, position],
  );
}

export async function loadCheckpoint(db: Queryable, name: string): Promise<string | undefined> {
  const r = await db.query<{ position: string }>(
    'SELECT position FROM consumer_checkpoints WHERE name = $1',
    [name],
  );
  return r.rows[0]?.position;
}

export async function purgeEventIds(db: Queryable, olderThan: number): Promise<number> {
  const r = await db.query('/* aggregate:purge */ DELETE FROM event_ids WHERE ts_ms < $1', [
    olderThan,
  ]);
  return r.rowCount;
}
