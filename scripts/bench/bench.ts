/**
 * `npm run bench`: starts Tally in each chosen topology, drives it from this process with
 * autocannon (closed loop) and a paced open-loop generator, checks that the reports count
 * exactly the acknowledged events, measures the two physical limits (a bare node:http server,
 * PostgreSQL's COPY) in the same run, and writes results (JSON, Markdown, SVG chart). Two more
 * parts: the dedup table as it grows, old design against new (dedup-growth.ts), and `tally
 * import` beside COPY (import-speed.ts), each checking its own counts; and what allowed origins
 * and CORS add per ingest request, in-process and over HTTP (edge-auth.ts), checking its verdicts.
 * Exit status: 0 when every count was exact, 1 otherwise, 2 on bad options.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { REPO_ROOT } from '../../test/harness/spawn.js';
import { runBareBaseline, runCopyBaseline } from './baselines.js';
import { chartSvg } from './chart.js';
import { runDedupGrowth } from './dedup-growth.js';
import { runEdgeAuth } from './edge-auth.js';
import { runImportSpeed } from './import-speed.js';
import type { Ledger } from './ledger.js';
import { type BenchOptions, UsageError, USAGE, parseOptions } from './options.js';
import { createProgress } from './progress.js';
import { markdown, summarize } from './report.js';
import { running, runTopology } from './run-topology.js';
import { kafkaVersion, postgresVersion, redisVersion } from './services.js';
import type { MachineInfo, RunResult } from './types.js';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--reports')) {
    // Its own part with its own options (reports.ts): report latency over a year of data.
    const { runReportsBench } = await import('./reports.js');
    await runReportsBench(argv);
    return 0;
  }
  let opts: BenchOptions;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(
        `${err instanceof UsageError && !err.message ? '' : `bench: ${(err as Error).message}\n`}${USAGE}\n`,
      );
      return err instanceof UsageError && !err.message ? 0 : 2;
    }
    throw err;
  }
  process.chdir(REPO_ROOT);
  const progress = createProgress();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const runTag = Math.random().toString(36).slice(2, 8);
  const machine = await machineInfo(opts);
  const parts = [
    ...(opts.topologies.length > 0
      ? [
          `${opts.topologies.join(', ')}; ${opts.durationS} s per phase, ${opts.connections} connections, batches of ${opts.batch}`,
        ]
      : []),
    ...(opts.importSpeed ? [`import of ${opts.importEvents} page views`] : []),
    ...(opts.dedupGrowth ? [`dedup growth at ${opts.dedupSizes.join(', ')} rows`] : []),
    ...(opts.edgeAuth ? ['allowed origins and CORS at the edge'] : []),
  ];
  progress.log(
    `bench ${stamp}: ${parts.join('; ')}; ${opts.runs} run(s); ${machine.cores} × ${machine.cpu}, load average ${machine.loadAvgStart.join(' ')}`,
  );
  const runs: RunResult[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    const tag = `${runTag}${run}`;
    const result: RunResult = { run, baselines: {}, topologies: [] };
    runs.push(result);
    if (opts.baselines && opts.topologies.length > 0) {
      result.baselines = await runBareBaseline(opts, `${tag}bare`, progress).catch(
        (err: unknown) => ({
          error: `bare node:http: ${(err as Error).message}`,
        }),
      );
    }
    let copyIds: Ledger | undefined;
    for (const name of opts.topologies) {
      try {
        const { result: t, batchLedger } = await runTopology(
          name,
          opts,
          `${tag}${name.slice(0, 2)}`,
          progress,
        );
        result.topologies.push(t);
        if (batchLedger && batchLedger.acknowledged > (copyIds?.acknowledged ?? 0)) {
          copyIds = batchLedger;
        }
      } catch (err) {
        progress.log(`[${name}] FAILED: ${(err as Error).message}`);
        result.topologies.push({
          topology: name,
          startupS: 0,
          processes: [],
          phases: [],
          error: (err as Error).message,
        });
      }
    }
    if (opts.baselines && copyIds) {
      try {
        result.baselines.copy = await runCopyBaseline(copyIds, `${tag}`, progress);
      } catch (err) {
        result.baselines.error =
          `${result.baselines.error ?? ''} COPY: ${(err as Error).message}`.trim();
        progress.log(`[COPY] FAILED: ${(err as Error).message}`);
      }
    }
    if (opts.importSpeed) {
      result.importSpeed = await runImportSpeed(opts, tag, progress).catch((err: unknown) => {
        progress.log(`[import] FAILED: ${(err as Error).message}`);
        return {
          events: opts.importEvents,
          fileMiB: 0,
          imports: [],
          exact: false,
          error: (err as Error).message,
        };
      });
    }
    if (opts.dedupGrowth) {
      result.dedupGrowth = await runDedupGrowth(opts, tag, progress).catch((err: unknown) => {
        progress.log(`[dedup] FAILED: ${(err as Error).message}`);
        return {
          batch: 0,
          generations: 0,
          secondsPerSeries: 0,
          sizes: [],
          exact: false,
          error: (err as Error).message,
        };
      });
    }
    if (opts.edgeAuth) {
      result.edgeAuth = await runEdgeAuth(opts, tag, progress);
    }
  }
  machine.loadAvgEnd = loadavg().map((l) => Math.round(l * 100) / 100);
  const summary = summarize(runs);
  const table = markdown(summary, opts.batch);
  const caption =
    `${stamp} · ${machine.cores} × ${machine.cpu} · Node ${machine.node} · ${opts.durationS} s/phase, ` +
    `${opts.connections} connections, ${opts.runs} run(s), medians · load avg ${machine.loadAvgStart[0]}→${machine.loadAvgEnd[0]}`;
  const svg = summary.rows.length > 0 ? chartSvg(summary, opts.batch, caption) : undefined;
  mkdirSync(opts.out, { recursive: true });
  const base = join(opts.out, `${stamp}${opts.quick ? '-quick' : ''}`);
  const json = JSON.stringify({ startedAt: stamp, machine, options: opts, runs, summary }, null, 2);
  writeFileSync(`${base}.json`, json);
  writeFileSync(join(opts.out, 'latest.json'), json);
  writeFileSync(`${base}.md`, `${table}\n`);
  if (svg) {
    writeFileSync(`${base}.svg`, svg);
  }
  if (opts.chart && svg) {
    mkdirSync(dirname(opts.chart), { recursive: true });
    writeFileSync(opts.chart, svg);
  } else if (opts.chart) {
    progress.log(`bench: no chart written to ${opts.chart}: only the topologies are charted`);
  }
  process.stdout.write(
    `\n${table}\n\nload average ${machine.loadAvgStart.join(' ')} at the start, ${machine.loadAvgEnd.join(' ')} at the end\n`,
  );
  process.stdout.write(
    `results: ${base}.json, .md${svg ? ', .svg' : ''}${opts.chart && svg ? `; chart: ${opts.chart}` : ''}\n`,
  );
  const failed = [
    ...summary.rows.filter((r) => !r.exact).map((r) => `${r.topology} (${r.errors.join('; ')})`),
    ...(opts.topologies.length > 0 && summary.rows.length === 0 ? ['no topology ran'] : []),
    ...(summary.importSpeed && !summary.importSpeed.exact
      ? [`import (${summary.importSpeed.errors.join('; ')})`]
      : []),
    ...(summary.dedupGrowth && !summary.dedupGrowth.exact
      ? [`dedup growth (${summary.dedupGrowth.errors.join('; ')})`]
      : []),
    ...(summary.edgeAuth && !summary.edgeAuth.ok
      ? [`edge auth (${summary.edgeAuth.errors.join('; ')})`]
      : []),
  ];
  if (failed.length > 0) {
    process.stdout.write(`FAILED: counts not exact or run failed: ${failed.join(', ')}\n`);
    return 1;
  }
  process.stdout.write(
    [
      ...(opts.topologies.length > 0 ? ['every acknowledged event was counted exactly once'] : []),
      ...(opts.importSpeed ? ['every import counted every page view exactly once'] : []),
      ...(opts.dedupGrowth ? ['both dedup designs wrote and purged exactly'] : []),
      ...(opts.edgeAuth ? ['the edge admitted and refused origins as it should'] : []),
    ].join('; ') + '\n',
  );
  return 0;
}

async function machineInfo(opts: BenchOptions): Promise<MachineInfo> {
  const needsPg =
    opts.baselines ||
    opts.dedupGrowth ||
    opts.importSpeed ||
    opts.topologies.some((t) => t !== 'embedded');
  const [postgres, redis] = await Promise.all([
    needsPg ? postgresVersion() : undefined,
    opts.topologies.includes('redis') ? redisVersion() : undefined,
  ]);
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    dataFs: fileSystemOf(resolve(opts.out)),
    node: process.versions.node,
    ...(postgres ? { postgres } : {}),
    ...(redis ? { redis } : {}),
    ...(opts.topologies.includes('kafka') ? { kafka: kafkaVersion() } : {}),
    loadAvgStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** `<type> <device>` of the mount holding `path`, from /proc/mounts (Linux). */
function fileSystemOf(path: string): string | undefined {
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f.length > 2 && path.startsWith(f[1]!))
      .sort((a, b) => b[1]!.length - a[1]!.length);
    return mounts[0] ? `${mounts[0][2]} on ${mounts[0][0]}` : undefined;
  } catch {
    return undefined;
  }
}

/** On Ctrl-C, stop the Tally processes (and their databases, streams, topics) before leaving. */
process.once('SIGINT', () => {
  process.stderr.write('\nbench: interrupted, stopping Tally\n');
  void Promise.allSettled([...running].map((t) => t.stop())).then(() => process.exit(130));
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Keep-alive sockets of fetch would hold the process open for a few seconds.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
    void Promise.allSettled([...running].map((t) => t.stop())).then(() => process.exit(1));
  },
);
