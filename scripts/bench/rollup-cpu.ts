/**
 * The aggregator's CPU per event outside the database: `computeRollups` (which derives each
 * event's dimensions when it is not given them, as apply-batch.ts does) over batches of the
 * load generator's events (ledger.ts: URL with UTM tags, referrer, six user agents). Runs
 * unchanged in an older tree (copy it there) for a before/after figure:
 *
 *   node --import tsx scripts/bench/rollup-cpu.ts [events per batch, default 5000] [batches, default 200]
 */
import type { CanonicalEvent } from '../../src/events/event.js';
import { computeRollups } from '../../src/rollups/rollup.js';
import { USER_AGENTS } from './ledger.js';

const perBatch = Number(process.argv[2] ?? 5000);
const batches = Number(process.argv[3] ?? 200);
const now = Date.now();

function event(seq: number): CanonicalEvent {
  const page = seq % 50;
  const utm =
    seq % 20 === 0
      ? `?utm_source=newsletter&utm_medium=email&utm_campaign=c${seq % 3}&utm_content=b${seq % 2}`
      : '';
  const r = seq % 10;
  return {
    event_id: `e${seq}`,
    type: 'page_view',
    ts: now - (seq % 1000),
    received_at: now,
    site_id: 'bench',
    path: `/p${page}`,
    url: `https://bench.example/p${page}${utm}`,
    referrer:
      r === 0
        ? 'https://www.google.com/'
        : r === 1
          ? `https://blog${seq % 7}.example.org/post`
          : `https://bench.example/p${(seq + 1) % 50}`,
    // As ledger.ts sends batches of 100: one user agent per request, kept by each user.
    user_id: `u${6 * Math.floor((seq % 996) / 6) + (Math.floor(seq / 100) % 6)}`,
    ua: USER_AGENTS[Math.floor(seq / 100) % USER_AGENTS.length]!,
  };
}

const all = Array.from({ length: perBatch * batches }, (_, i) => event(i));
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
