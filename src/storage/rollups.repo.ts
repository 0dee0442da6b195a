import type { CanonicalEvent } from '../events/event.js';
import type { Queryable } from './db.js';
import type { KnownKeys } from '../rollups/known-keys.js';
import {
  computeRollups,
  SET_TABLES,
  TABLES,
  type RollupOptions,
  type SetKey,
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

/** What `applyRollups` wrote. */
export interface RollupWrite {
  /** Keys of the set rows (visitors) written, for `known` once the transaction committed. */
  keys: string[];
  /** Bot events left out of the rollups (for the drop ledger). */
  bots: number;
}

/**
 * Adds the rollup deltas of new events. Set rows (exact visitors) that `known` holds are
 * committed already and are not sent again; returns the keys of the set rows written, for the
 * caller to add to `known` once the transaction has committed. With `usersVia`, the set rows go
 * through that connection instead, at the same time as the counters: they are a set (adding a
 * row again changes nothing), so they may commit apart from, and before, the counters.
 */
export async function applyRollups(
  tx: Queryable,
  events: CanonicalEvent[],
  known?: KnownKeys,
  usersVia?: Queryable,
  opts: RollupOptions = {},
): Promise<RollupWrite> {
  const { deltas, users, sets, bots } = computeRollups(events, opts);
  const keys: string[] = [];
  const fresh = (m: Map<string, Row>): Row[] => {
    const rows: Row[] = [];
    for (const [k, row] of m) {
      if (!known?.has(k)) {
        keys.push(k);
        rows.push(row);
      }
    }
    return rows;
  };
  const writes: [SetKey, Row[]][] = [['users', fresh(users)]];
  for (const name of [...sets.keys()].sort()) {
    writes.push([name, fresh(sets.get(name)!)]);
  }
  const insertSets = async (q: Queryable) => {
    for (const [name, rows] of writes) {
      await insertSetRows(q, name, rows);
    }
  };
  if (usersVia) {
    const writing = insertSets(usersVia);
    // Awaited below, after the counters; a failure meanwhile must not go unhandled.
    writing.catch(() => undefined);
    try {
      await applyDeltas(tx, deltas);
    } finally {
      await writing.catch(() => undefined);
    }
    await writing;
    return { keys, bots };
  }
  await applyDeltas(tx, deltas);
  await insertSets(tx);
  return { keys, bots };
}

async function insertSetRows(q: Queryable, name: SetKey, rows: Row[]): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  const { table, columns: cols } = SET_TABLES[name];
  rows.sort((a, b) => cmp(a, b, cols.length));
  const types = cols.map((c) => (c === 'day' ? 'date' : c === 'minute' ? 'timestamptz' : 'text'));
  await q.query(
    `/* aggregate:${name} */ INSERT INTO ${table} (${cols.join(', ')}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) ON CONFLICT DO NOTHING`,
    columns(rows, cols.length),
  );
}
