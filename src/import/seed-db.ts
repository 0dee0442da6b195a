import { createHash } from 'node:crypto';
import pg from 'pg';
import { encodeKey, keysetPages } from './seed-db/keyset.js';
import type { SeedTable } from './seed-db/table.js';
import { seedTable } from './seed-db/tables.js';
import { seedDbTarget } from './seed-db/target.js';
import { SEEDS, type Seed } from './seed-fields.js';
import type { ImportSource, SourceRecord } from './source.js';

export { SEEDS, type Seed };

export interface SeedDbOptions {
  /** Seed 002: campaign_id → account_id (CAMPAIGN_ACCOUNTS_FILE), ahead of the row's account. */
  campaignAccounts?: Record<string, string>;
  /** Rows per page (default 5,000). */
  pageRows?: number;
}

const PAGE_ROWS = 5000;
const FINGERPRINT_ROWS = 5;
/** Below this many rows (by the planner's estimate) the total is counted exactly. */
const COUNT_EXACTLY_BELOW = 1_000_000;

/** Checks that the table and the README's columns are there: a wrong database fails at open. */
async function checkColumns(client: pg.Client, table: SeedTable, what: string): Promise<void> {
  const r = await client.query<{ exists: boolean; name: string | null }>(
    `SELECT to_regclass($1) IS NOT NULL AS exists, a.attname AS name
       FROM (SELECT 1) one LEFT JOIN pg_attribute a
         ON a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [table.table],
  );
  if (!r.rows[0]?.exists) {
    throw new Error(`${what}: there is no table ${table.table}; is this the seed's database?`);
  }
  const have = new Set(r.rows.map((row) => row.name));
  const missing = table.columns.filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw new Error(
      `${what}: the table ${table.table} has no column ${missing.join(', ')} (expected ${table.columns.join(', ')})`,
    );
  }
}

/** The planner's row estimate when the table is big, else an exact count. */
async function estimateRows(client: pg.Client, table: SeedTable): Promise<number> {
  const est = await client.query<{ n: string | null }>(
    'SELECT reltuples::int8::text AS n FROM pg_class WHERE oid = to_regclass($1)',
    [table.table],
  );
  const n = Number(est.rows[0]?.n ?? -1);
  if (n >= COUNT_EXACTLY_BELOW) {
    return n;
  }
  const exact = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table.table}`);
  return Number(exact.rows[0]!.n);
}

/**
 * A seed service's history, read straight from its own PostgreSQL database: the raw events
 * table its README documents (seed 000: its per-minute ad counters), in key order, a page at a
 * time. Each row is mapped as the seed's compat route maps the same request (`seed-fields.ts`);
 * a row that cannot be is a refused record at `row <key>`. The position is the row's key, so a
 * re-run reads only rows after what is committed.
 *
 * Import from a seed that no longer takes writes: a row the seed adds after a run is read by a
 * later run only if its key sorts after the position, which holds for serial ids (seeds 002,
 * 004) but not for random UUIDs (001, 003), and seed 000 keeps adding to its current minute.
 */
export async function openSeedDbSource(
  seed: Seed,
  url: string,
  opts: SeedDbOptions = {},
): Promise<ImportSource> {
  if (!SEEDS.includes(seed)) {
    throw new Error(`unknown seed ${String(seed)}: one of ${SEEDS.join(', ')}`);
  }
  const target = seedDbTarget(seed, url);
  const table = seedTable(seed, { campaignAccounts: opts.campaignAccounts });
  const pageRows = opts.pageRows ?? PAGE_ROWS;
  const client = new pg.Client(target.client);
  // A connection lost between queries must not crash the process; the next query reports it.
  client.on('error', () => undefined);
  let total: number;
  try {
    await client.connect();
    if (target.schema !== undefined) {
      await client.query("SELECT set_config('search_path', quote_ident($1), false)", [
        target.schema,
      ]);
    }
    await checkColumns(client, table, target.description);
    await table.check?.(client);
    total = await estimateRows(client, table);
  } catch (err) {
    await client.end().catch(() => undefined);
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      message.includes(target.description) ? message : `${target.description}: ${message}`,
      { cause: err },
    );
  }

  let done = 0;
  let closed: Promise<void> | undefined;
  return {
    description: target.description,
    defaultName: target.defaultName,
    async fingerprint() {
      const keys = table.key.map((k, i) => `${k}::text AS k${i}`).join(', ');
      const r = await client.query<Record<string, string | null>>(
        `SELECT ${keys} FROM ${table.table} ORDER BY ${table.firstRows} LIMIT ${FINGERPRINT_ROWS}`,
      );
      return createHash('sha256')
        .update(JSON.stringify([seed, table.table, r.rows.map((row) => encodeKey(table, row))]))
        .digest('hex');
    },
    async *read(after): AsyncGenerator<SourceRecord> {
      for await (const rows of keysetPages(client, table, after, pageRows)) {
        for (const row of rows) {
          done++;
          const position = encodeKey(table, row);
          yield { position, where: `row ${position}`, ...table.toRecord(row) };
        }
      }
    },
    progress: () => ({ done, total: Math.max(total, done) }),
    close: () => (closed ??= client.end().catch(() => undefined)),
  };
}
