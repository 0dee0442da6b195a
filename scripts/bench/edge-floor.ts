/**
 * The floor under Tally's CPU per single-event request (issue 16): the bare node:http server
 * and fastify alone (fastify-floor-server.ts) under the same closed-loop load and bodies as the
 * bench's `single` phase, interleaved, `--runs` rounds; prints each one's CPU µs per request
 * (user + system, every thread) and req/s, with medians. Tally's own figures come from
 * `npm run bench -- --phases single` (its "CPU per single-event request" table).
 * With them, the durable write's floor (log-floor-server.ts): the body parsed and published to
 * Redis through Tally's own log, on node:http and on fastify (REDIS_URL, default the local one).
 * Usage: node --import tsx scripts/bench/edge-floor.ts [-c 50] [-d 8] [--runs 3] [--profile DIR]
 *        [--servers 'bare node:http,fastify alone,node:http + Redis log,fastify + Redis log']
 * (`--profile`: each server under --cpu-prof, its profile in DIR, for profile-summary.ts;
 * `--semi-space MB`: V8's young generation bounded as Tally's processes are started, by
 * `--max-semi-space-size`, which sets how often the young generation is collected)
 */
import { parseArgs } from 'node:util';
import { waitReady } from '../../test/harness/ready.js';
import { freePort, REPO_ROOT, spawnNode, stopChild } from '../../test/harness/spawn.js';
import { runPhase } from './phases.js';
import { createProgress } from './progress.js';
import { median } from './report.js';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', short: 'c', default: '50' },
    duration: { type: 'string', short: 'd', default: '8' },
    runs: { type: 'string', default: '3' },
    profile: { type: 'string' },
    'semi-space': { type: 'string' },
    /** Comma-separated labels: only those servers (default all). */
    servers: { type: 'string' },
  },
});
const connections = Number(values.connections);
const durationS = Number(values.duration);
const runs = Number(values.runs);
process.chdir(REPO_ROOT);
const progress = createProgress();
const servers = [
  { label: 'bare node:http', script: 'scripts/bench/bare-server.ts', args: [] },
  { label: 'fastify alone', script: 'scripts/bench/fastify-floor-server.ts', args: [] },
  // The durable write's floor: the body parsed and published to Redis through Tally's log.
  { label: 'node:http + Redis log', script: 'scripts/bench/log-floor-server.ts', args: ['http'] },
  { label: 'fastify + Redis log', script: 'scripts/bench/log-floor-server.ts', args: ['fastify'] },
].filter((s) => values.servers === undefined || values.servers.split(',').includes(s.label));
const figures = new Map<string, { us: number[]; rps: number[] }>();

for (let run = 1; run <= runs; run++) {
  for (const s of run % 2 === 1 ? servers : [...servers].reverse()) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawnNode(s.label, s.script, [String(port), ...s.args], {
      keepChars: 4000,
      ...(values['semi-space']
        ? { env: { NODE_OPTIONS: `--max-semi-space-size=${values['semi-space']}` } }
        : {}),
      ...(values.profile ? { profileDir: values.profile } : {}),
    });
    try {
      await waitReady([child], { url }, { timeoutMs: 30_000 });
      const target = { label: s.label, url, children: [child], rssMiB: () => 0, counts: false };
      const base = { batch: 1, connections, tag: `floor${run}` };
      await runPhase(target, { ...base, phase: 'warmup', durationS: 3 }, progress);
      const { result } = await runPhase(target, { ...base, phase: 'single', durationS }, progress);
      const f = figures.get(s.label) ?? { us: [], rps: [] };
      f.us.push(result.cpu?.[0]?.usPerRequest ?? NaN);
      f.rps.push(result.requestsPerS);
      figures.set(s.label, f);
    } finally {
      await stopChild(child);
    }
  }
}
for (const [label, f] of figures) {
  process.stdout.write(
    `${label}: CPU µs/req ${f.us.join(', ')} (median ${median(f.us)}); req/s ${f.rps.join(', ')} (median ${median(f.rps)})\n`,
  );
}
