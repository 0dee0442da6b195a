/**
 * Where a batch's transaction spends its time on the embedded database: applies batches of the
 * load generator's events (ledger.ts's canonicalPageView) through the aggregator's batch applier
 * and times every statement by its tag. For before/after comparisons of the write path (copy it
 * and ledger.ts into an older tree):
 *
 *   node --import tsx scripts/bench/batch-sql.ts [events per batch, default 2000] [batches, default 60]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createBatchApplier } from '../../src/aggregate/apply-batch.js';
import { KnownKeys } from '../../src/rollups/known-keys.js';
import type { Db, Queryable } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { createPgliteDb } from '../../src/storage/pglite-db.js';
import { SeenIds } from '../../src/storage/seen-ids.js';
import { canonicalPageView } from './ledger.js';

const perBatch = Number(process.argv[2] ?? 2000);
const batches = Number(process.argv[3] ?? 60);
const now = Date.now();

const tag = (sql: string) => /\/\* ([^*]+) \*\//.exec(sql)?.[1] ?? sql.slice(0, 40);
const times = new Map<string, number[]>();
function timed(q: Queryable): Queryable {
  return {
    async query(sql, params) {
      const t0 = performance.now();
      try {
        return await q.query(sql, params);
      } finally {
        const k = tag(sql);
        const list = times.get(k) ?? [];
        list.push(performance.now() - t0);
        times.set(k, list);
      }
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'tally-batch-sql-'));
const db = await createPgliteDb({ dataDir: dir, asyncCommit: true });
// Older trees do not migrate a new embedded database when they open it.
await migrate(db);
const wrapped: Db = { ...db, transaction: (fn) => db.transaction((tx) => fn(timed(tx))) };
const totals = { counted: 0, bots: 0, duplicates: 0, deadLettered: 0, preparedAhead: 0 };
// As the embedded aggregator runs: with the dedup filter (new ids skip the conflict check).
const seen = new SeenIds();
await seen.fill(db, pino({ level: 'silent' }));
const apply = createBatchApplier({
  db: wrapped,
  logger: pino({ level: 'silent' }),
  dedupWindowMs: 3_600_000,
  knownUsers: new KnownKeys(100_000),
  totals,
  seen,
});
const all = Array.from({ length: perBatch * batches }, (_, i) => canonicalPageView(i, now));
const walls: number[] = [];
for (let b = 0; b < batches; b++) {
  if (b === 10) {
    times.clear(); // the first batches warm the JIT and the database's caches
    walls.length = 0;
  }
  const t0 = performance.now();
  await apply({ events: all.slice(b * perBatch, (b + 1) * perBatch) });
  walls.push(performance.now() - t0);
}
await db.close();
rmSync(dir, { recursive: true, force: true });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows = [...times].map(([k, xs]) => ({
  k,
  median: median(xs),
  sum: xs.reduce((a, b) => a + b, 0),
}));
rows.sort((a, b) => b.sum - a.sum);
const measured = batches - 10;
console.log(
  `median batch ${median(walls).toFixed(1)} ms (${perBatch} events); per statement, ms per batch:`,
);
for (const r of rows) {
  console.log(`${(r.sum / measured).toFixed(2).padStart(8)}  ${r.k}`);
}
console.log(
  JSON.stringify({
    counted: totals.counted,
    eventsPerSecond: Math.round(perBatch / (median(walls) / 1000)),
  }),
);
