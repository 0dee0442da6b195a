import type { CanonicalEvent } from '../events/event.js';
import type { Queryable } from './db.js';
import type { KnownKeys } from '../rollups/known-keys.js';
import type { HeldState } from './event-ids.repo.js';
import {
  computeRollups,
  lateMonthRows,
  MONTHLY_TABLES,
  SET_TABLES,
  TABLES,
  type RollupOptions,
  type SetKey,
  type CounterTable,
  type Deltas,
  type Row,
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
 * One table's part of a write: its SQL with parameters numbered from `first`, their values, and
 * optionally a statement that reads what the part returned (`then(name)`, the part's CTE name).
 */
interface Part {
  sql(first: number): string;
  params: unknown[][];
  then?: (name: string) => string;
}

const ANON = "user_key LIKE 'h:%'";
const addVisitors = (table: string) =>
  `DO UPDATE SET visitors = ${table}.visitors + EXCLUDED.visitors`;
/**
 * Anonymous visitors are day-scoped (migrations/0013): each set row first inserted for one is
 * counted per site and day, and per dimension value, as it goes in. Exact: ON CONFLICT DO
 * NOTHING returns only the rows this statement inserted, and a row two workers insert at once
 * is inserted by one of them. An anonymous key has one user agent and one address, so one
 * profile a day: a new profile row is a new visitor of each of its four values.
 */
const ANON_COUNTS: Partial<Record<SetKey, (rows: string) => string>> = {
  users: (rows) =>
    `INSERT INTO site_daily_anon (site_id, day, visitors) SELECT site_id, day, count(*) FROM ${rows}
     WHERE ${ANON} GROUP BY site_id, day ORDER BY site_id, day
     ON CONFLICT (site_id, day) ${addVisitors('site_daily_anon')}`,
  dimUsers: (rows) =>
    `INSERT INTO site_daily_dim_anon (site_id, day, dim, value, visitors) SELECT site_id, day, dim, value, count(*) FROM ${rows}
     WHERE ${ANON} GROUP BY site_id, day, dim, value ORDER BY site_id, day, dim, value
     ON CONFLICT (site_id, day, dim, value) ${addVisitors('site_daily_dim_anon')}`,
  profiles: (rows) =>
    `INSERT INTO site_daily_dim_anon (site_id, day, dim, value, visitors) SELECT site_id, day, d.dim, d.value, count(*) FROM ${rows},
       LATERAL (VALUES ('browser', browser), ('os', os), ('device', device), ('country', country)) AS d(dim, value)
     WHERE ${ANON} GROUP BY site_id, day, d.dim, d.value ORDER BY site_id, day, d.dim, d.value
     ON CONFLICT (site_id, day, dim, value) ${addVisitors('site_daily_dim_anon')}`,
};

/**
 * A counter table's upsert of deltas. Rows go in sorted key order so that two workers touching
 * the same rows lock them in the same order (no deadlocks).
 */
function counterPart(t: CounterTable, rows: Row[]): Part {
  const n = t.keys.length;
  rows.sort((a, b) => cmp(a, b, n));
  const minima = t.minima ?? [];
  const cols = [...t.keys.map((k) => k.name), ...t.counters, ...minima];
  const types = [
    ...t.keys.map((k) => k.type),
    ...t.counters.map(() => 'int8'),
    ...minima.map(() => 'int8'),
  ];
  const set = [
    ...t.counters.map((c) => `${c} = ${t.table}.${c} + EXCLUDED.${c}`),
    ...minima.map((c) => `${c} = LEAST(${t.table}.${c}, EXCLUDED.${c})`),
  ].join(', ');
  return {
    sql: (first) =>
      `INSERT INTO ${t.table} (${cols.join(', ')}) ` +
      `SELECT * FROM unnest(${types.map((ty, i) => `$${first + i}::${ty}[]`).join(', ')}) ` +
      `ON CONFLICT (${t.keys.map((k) => k.name).join(', ')}) DO UPDATE SET ${set}`,
    params: columns(rows, cols.length),
  };
}

/** A set table's insert (exact visitors): a row already there changes nothing. */
function setPart(name: SetKey, rows: Row[]): Part {
  const { table, columns: cols } = SET_TABLES[name];
  rows.sort((a, b) => cmp(a, b, cols.length));
  const types = cols.map((c) => (c === 'day' ? 'date' : c === 'minute' ? 'timestamptz' : 'text'));
  const counts = ANON_COUNTS[name];
  return {
    sql: (first) =>
      `INSERT INTO ${table} (${cols.join(', ')}) SELECT * FROM unnest(${types.map((t, i) => `$${first + i}::${t}[]`).join(', ')}) ON CONFLICT DO NOTHING` +
      (counts ? ` RETURNING ${cols.join(', ')}` : ''),
    params: columns(rows, cols.length),
    ...(counts ? { then: counts } : {}),
  };
}

/**
 * Runs the parts as one statement, each a data-modifying CTE, in the order given (PostgreSQL
 * runs CTEs nobody reads to completion in the order they are written). Measured on the embedded
 * database (scripts/bench/batch-sql.ts): a statement costs about 1 ms whatever its size, the
 * round trip to the database's thread and the parse, so a batch's ten to fifteen upserts as
 * one statement save most of that.
 */
async function runParts(q: Queryable, parts: Part[], label: string): Promise<void> {
  if (parts.length === 0) {
    return;
  }
  if (parts.length === 1 && !parts[0]!.then) {
    await q.query(`/* aggregate:${label} */ ${parts[0]!.sql(1)}`, parts[0]!.params);
    return;
  }
  const params: unknown[] = [];
  const ctes: string[] = [];
  parts.forEach((p, i) => {
    const sql = p.sql(params.length + 1);
    params.push(...p.params);
    ctes.push(`w${i} AS (${sql})`);
    if (p.then) {
      ctes.push(`w${i}c AS (${p.then(`w${i}`)})`);
    }
  });
  await q.query(`/* aggregate:${label} */ WITH ${ctes.join(', ')} SELECT 1`, params);
}

/** Adds counter deltas to every table they touch, tables in name order. */
export async function applyDeltas(tx: Queryable, deltas: Deltas): Promise<void> {
  await runParts(tx, counterParts(deltas), 'rollups');
}

const counterParts = (deltas: Deltas): Part[] =>
  [...deltas.keys()].sort().map((key) => counterPart(TABLES[key], [...deltas.get(key)!.values()]));

/** What `applyRollups` wrote. */
export interface RollupWrite {
  /** Keys of the set rows (visitors) written, for `known` once the transaction committed. */
  keys: string[];
  /** Bot events left out of the rollups (for the drop ledger). */
  bots: number;
}

/**
 * A batch's rollup write, computed ahead of its transaction (pure CPU: derivation, sums, the
 * statement's parameters), so that the aggregator can prepare the next batch while the database
 * applies the current one.
 */
export interface PreparedRollups {
  counters: Part[];
  sets: Part[];
  /** Keys of the set rows in `sets`, for `known` once the transaction committed. */
  keys: string[];
  bots: number;
  /** The deltas, for the monthly path rows of late days (`monthlyParts`). */
  deltas: Deltas;
  /** The first day of the batch's site rows (path rows are among them), if any. */
  firstDay: string | undefined;
}

/**
 * What new events add to the rollups. Set rows (exact visitors) that `known` holds are
 * committed already and are left out. `known` is only a saving: a set row sent again changes
 * nothing (ON CONFLICT DO NOTHING, and the anonymous counts count only rows inserted), so a
 * write prepared before an earlier batch committed is still exact.
 */
export function prepareRollups(
  events: CanonicalEvent[],
  known?: KnownKeys,
  opts: RollupOptions = {},
): PreparedRollups {
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
  const setParts = writes
    .filter(([, rows]) => rows.length > 0)
    .map(([n, rows]) => setPart(n, rows));
  let firstDay: string | undefined;
  for (const row of deltas.get('siteDaily')?.values() ?? []) {
    const day = String(row[1]);
    if (firstDay === undefined || day < firstDay) {
      firstDay = day;
    }
  }
  return { counters: counterParts(deltas), sets: setParts, keys, bots, deltas, firstDay };
}

/**
 * The monthly path upserts of a batch whose path rows fall on days the compaction already
 * summed into their months (migrations/0014): in the same transaction as the daily rows, so
 * that each is counted once in both. Usually none, decided by one comparison. `held` is what
 * the transaction read when it took the generations' share lock (`insertEventIds`); a writer
 * that did not take it (an import without dedup) takes it here, before writing anything.
 */
async function monthlyParts(tx: Queryable, p: PreparedRollups, held?: HeldState): Promise<Part[]> {
  if (p.firstDay === undefined) {
    return [];
  }
  let before = held?.pathsCompactedBefore;
  if (before === undefined) {
    const r = await tx.query<{ w: string | null }>(
      '/* aggregate:paths-watermark */ SELECT paths_compacted_before::text AS w FROM dedup_state FOR SHARE',
    );
    before = r.rows[0]?.w ?? null;
  }
  if (before === null || p.firstDay >= before) {
    return [];
  }
  const rows = lateMonthRows(p.deltas, before);
  const parts: Part[] = [];
  if (rows.paths.length > 0) {
    parts.push(counterPart(MONTHLY_TABLES.paths, rows.paths));
  }
  if (rows.typePaths.length > 0) {
    parts.push(counterPart(MONTHLY_TABLES.typePaths, rows.typePaths));
  }
  return parts;
}

/**
 * Writes a prepared rollup write. With `usersVia`, the set rows go through that connection
 * instead, at the same time as the counters: they are a set (adding a row again changes
 * nothing), so they may commit apart from, and before, the counters. `held`: what the
 * transaction's `insertEventIds` read with its lock (the monthly path watermark).
 */
export async function writeRollups(
  tx: Queryable,
  p: PreparedRollups,
  usersVia?: Queryable,
  held?: HeldState,
): Promise<RollupWrite> {
  const { keys, bots } = p;
  // First: it may take the generations' share lock.
  const monthly = await monthlyParts(tx, p, held);
  const counters = monthly.length > 0 ? [...p.counters, ...monthly] : p.counters;
  if (usersVia) {
    const writing = runParts(usersVia, p.sets, 'visitors');
    // Awaited below, after the counters; a failure meanwhile must not go unhandled.
    writing.catch(() => undefined);
    try {
      await runParts(tx, counters, 'rollups');
    } finally {
      await writing.catch(() => undefined);
    }
    await writing;
    return { keys, bots };
  }
  // Counters (tables in name order), then the set rows: one statement.
  await runParts(tx, [...counters, ...p.sets], 'rollups');
  return { keys, bots };
}

/** Adds the rollup deltas of new events: `prepareRollups`, then `writeRollups`. */
export async function applyRollups(
  tx: Queryable,
  events: CanonicalEvent[],
  known?: KnownKeys,
  usersVia?: Queryable,
  opts: RollupOptions = {},
): Promise<RollupWrite> {
  return writeRollups(tx, prepareRollups(events, known, opts), usersVia);
}
