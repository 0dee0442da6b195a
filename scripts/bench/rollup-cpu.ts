/**
 * The aggregator's CPU per event outside the database: `computeRollups` (which derives each
 * event's dimensions when it is not given them, as apply-batch.ts does) over batches of the
 * load generator's events (ledger.ts's canonicalPageView: URL with UTM tags, referrer, six user
 * agents). Runs unchanged in an older tree (copy it and ledger.ts there) for a before/after
 * figure:
 *
 *   node --import tsx scripts/bench/rollup-cpu.ts [events per batch, default 5000] [batches, default 200]
 */
import { computeRollups } from '../../src/rollups/rollup.js';
import { canonicalPageView } from './ledger.js';

const perBatch = Number(process.argv[2] ?? 5000);
const batches = Number(process.argv[3] ?? 200);
const now = Date.now();

const all = Array.from({ length: perBatch * batches }, (_, i) => canonicalPageView(i, now));
// Warm-up: JIT and the user-agent cache.
for (let b = 0; b < 20; b++) {
  computeRollups(all.slice(b * perBatch, (b + 1) * perBatch));
}
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let b = 0; b < batches; b++) {
  computeRollups(all.slice(b * perBatch, (b + 1) * perBatch));
}
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const n = perBatch * batches;
console.log(
  JSON.stringify({
    events: n,
    perBatch,
    wallUsPerEvent: +((wall * 1000) / n).toFixed(3),
    cpuUsPerEvent: +((cpu.user + cpu.system) / n).toFixed(3),
  }),
);
