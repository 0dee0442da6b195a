import type { CanonicalEvent } from '../events/event.js';
import type { Queryable } from './db.js';
import type { KnownKeys } from '../rollups/known-keys.js';
import {
  computeRollups,
  TABLES,
  type CounterTable,
  type Deltas,
  type Row,
  type TableKey,
} from '../rollups/rollup.js';

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
async function upsertCounters(tx: Queryable, key: TableKey, rows: Row[]): Promise<void> {
  const t: CounterTable = TABLES[key];
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

/** Adds counter deltas to every table they touch, tables in name order. */
export async function applyDeltas(tx: Queryable, deltas: Deltas): Promise<void> {
  for (const key of [...deltas.keys()].sort()) {
    await upsertCounters(tx, key, [...deltas.get(key)!.values()]);
  }
}

/**
 * Adds the rollup deltas of new events. Unique-user rows that `known` holds are committed
 * already and are not sent again; returns the keys of the user rows written, for the caller to
 * add to `known` once the transaction has committed. With `usersVia`, the user rows go through
 * that connection instead, at the same time as the counters: they are a set (adding a row
 * again changes nothing), so they may commit apart from, and before, the counters.
 */
export async function applyRollups(
  tx: Queryable,
  events: CanonicalEvent[],
  known?: KnownKeys,
  usersVia?: Queryable,
): Promise<string[]> {
  const { deltas, users } = computeRollups(events);
  const keys: string[] = [];
  const rows: Row[] = [];
  for (const [k, row] of users) {
    if (!known?.has(k)) {
      keys.push(k);
      rows.push(row);
    }
  }
  if (usersVia) {
    const writing = insertUserRows(usersVia, rows);
    // Awaited below, after the counters; a failure meanwhile must not go unhandled.
    writing.catch(() => undefined);
    try {
      await applyDeltas(tx, deltas);
    } finally {
      await writing.catch(() => undefined);
    }
    await writing;
    return keys;
  }
  await applyDeltas(tx, deltas);
  await insertUserRows(tx, rows);
  return keys;
}

async function insertUserRows(q: Queryable, rows: Row[]): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  rows.sort((a, b) => cmp(a, b, 3));
  await q.query(
    '/* aggregate:users */ INSERT INTO site_daily_users (site_id, day, user_key) SELECT * FROM unnest($1::text[], $2::date[], $3::text[]) ON CONFLICT DO NOTHING',
    columns(rows, 3),
  );
}
