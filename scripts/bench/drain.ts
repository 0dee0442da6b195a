/**
 * The embedded default's aggregation alone: a backlog of the load generator's page views
 * (ledger.ts's canonicalPageView, 100 to a record as requests of 100 write them) is written into
 * a fresh embedded log, then the aggregator drains it into a fresh embedded database. Prints the
 * drain's events/s and the process's CPU time per event (every thread: the main thread's reading,
 * derivation and rollup sums, the database thread's SQL). No HTTP, so it compares the write path
 * of two trees with less noise than the end-to-end phases; copy it and ledger.ts into an older
 * tree for before/after runs:
 *
 *   node --max-semi-space-size=4 --import tsx scripts/bench/drain.ts [events, default 400000]
 */
import { rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAggregator } from '../../src/aggregate/aggregator.js';
import { loadConfig } from '../../src/config.js';
import type { CanonicalEvent } from '../../src/events/event.js';
import { createLogger } from '../../src/logger.js';
import { openDb, openTransport } from '../../src/main/components.js';
import { migrate } from '../../src/storage/migrate.js';
import { canonicalPageView } from './ledger.js';

const total = Number(process.argv[2] ?? 400_000);
const dir = mkdtempSync(join(tmpdir(), 'tally-drain-'));
const config = loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' });
const log = createLogger(config.logging);
const db = await openDb(config);
await migrate(db);
const transport = await openTransport(config, log);
const now = Date.now();
for (let i = 0; i < total; i += 100) {
  const record: CanonicalEvent[] = [];
  for (let j = i; j < Math.min(total, i + 100); j++) {
    record.push(canonicalPageView(j, now));
  }
  await transport.publish(record);
}
const aggregator = createAggregator({ db, transport, logger: log }, config.aggregator);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await aggregator.start();
while (aggregator.stats().counted + aggregator.stats().duplicates < total) {
  await new Promise((r) => setTimeout(r, 5));
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
await aggregator.stop();
await transport.close();
await db.close();
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    events: total,
    eventsPerSecond: Math.round(total / seconds),
    cpuUsPerEvent: +((cpu.user + cpu.system) / total).toFixed(2),
  }),
);
