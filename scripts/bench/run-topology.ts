import { resolve } from 'node:path';
import type { Ledger } from './ledger.js';
import type { BenchOptions, TopologyName } from './options.js';
import { type PhaseSpec, type PhaseTarget, runPhase } from './phases.js';
import type { Progress } from './progress.js';
import { readRss, type RssWatch, watchRss } from './rss.js';
import { startTopology, type Topology } from './topologies.js';
import type { PhaseResult, TopologyResult } from './types.js';

/** Topologies running now, so that an interrupt can stop them. */
export const running = new Set<Topology>();

/**
 * Starts Tally in one topology and runs the phases on it: single events and batches, each as
 * fast as it answers and then paced at half the sustainable rate; then, on a second instance whose backlog
 * is bounded small, batches at twice the sustainable (end-to-end) rate.
 */
export async function runTopology(
  name: TopologyName,
  opts: BenchOptions,
  tag: string,
  progress: Progress,
): Promise<{ result: TopologyResult; batchLedger?: Ledger }> {
  const want = (p: PhaseResult['phase']) => opts.phases.includes(p);
  const result: TopologyResult = { topology: name, startupS: 0, processes: [], phases: [] };
  let batchLedger: Ledger | undefined;
  progress.update(`[${name}] starting`);
  const topo = await start(name, opts, tag);
  result.topology = topo.name;
  result.startupS = Math.round(topo.startupS * 10) / 10;
  progress.log(
    `[${name}] ready in ${result.startupS} s: ${topo.children.map((c) => `${c.name} (pid ${c.pid})`).join(', ')}`,
  );
  const rss = watchRss(topo.children);
  const target = phaseTarget(name, topo, rss);
  const idleKiB = new Map<number, number>();
  if (opts.idleS > 0) {
    progress.update(`[${name}] idle for ${opts.idleS} s`);
    await new Promise((r) => setTimeout(r, opts.idleS * 1000));
    for (const c of topo.children) {
      idleKiB.set(c.pid, readRss(c.pid)?.rssKiB ?? 0);
    }
  }
  const base = { connections: opts.connections, durationS: opts.durationS };
  try {
    for (const [max, half, batch] of [
      ['single', 'single-half', 1],
      ['batch', 'batch-half', opts.batch],
    ] as const) {
      let maxReqPerS: number | undefined;
      // The seed routes take one event per request: they are loaded in the single phase only,
      // each after its own warm-up, in the order given (`/v1` first by default).
      const routes = batch === 1 ? opts.routes : (['v1'] as const);
      for (const route of routes) {
        const r1 = route === 'v1' ? '' : route.replace('seed-', 's');
        if ((want(max) || want(half)) && opts.warmupS > 0) {
          const spec: PhaseSpec = {
            ...base,
            phase: 'warmup',
            durationS: opts.warmupS,
            batch,
            route,
            tag: `${tag}${max[0]}${r1}w`,
          };
          result.phases.push((await runPhase(target, spec, progress)).result);
        }
        if (want(max)) {
          const spec: PhaseSpec = {
            ...base,
            phase: max,
            batch,
            route,
            tag: `${tag}${max[0]}${r1}`,
            injectFault: opts.injectFault && max === 'batch',
          };
          const { result: r, ledger } = await runPhase(target, spec, progress);
          result.phases.push(r);
          // Half of the sustainable rate: what the pipeline takes and also stores, i.e. the lower
          // of the ingest and end-to-end rates (above the latter the backlog only grows).
          maxReqPerS ??= Math.min(r.requestsPerS, (r.e2ePerS ?? Infinity) / batch);
          if (max === 'batch') {
            batchLedger = ledger;
          }
        }
      }
      if (want(half) && maxReqPerS) {
        const spec: PhaseSpec = {
          ...base,
          phase: half,
          batch,
          reqPerS: maxReqPerS / 2,
          tag: `${tag}${max[0]}h`,
        };
        if (opts.warmupS > 0) {
          // The paced generator opens new connections: without this, its first half second
          // (connection set-up, cold code in client and server) lands in the reported tail.
          const warm: PhaseSpec = {
            ...spec,
            phase: 'warmup',
            durationS: opts.warmupS,
            tag: `${spec.tag}w`,
          };
          result.phases.push((await runPhase(target, warm, progress)).result);
        }
        result.phases.push((await runPhase(target, spec, progress)).result);
      }
    }
  } catch (err) {
    result.error = (err as Error).message;
    progress.log(`[${name}] FAILED: ${result.error}`);
  } finally {
    result.processes = rss.peaks().map((p) => {
      const idle = idleKiB.get(p.pid);
      return idle === undefined ? p : { ...p, idleRssMiB: Math.round(idle / 1024) };
    });
    rss.stop();
    progress.update(`[${name}] stopping`);
    running.delete(topo);
    await topo.stop();
  }
  const sustainable = result.phases.find((p) => p.phase === 'batch')?.e2ePerS;
  if (want('overload') && sustainable && !result.error) {
    try {
      result.overload = await runOverload(
        name,
        opts,
        `${tag}o`,
        (2 * sustainable) / opts.batch,
        progress,
      );
    } catch (err) {
      result.error = `overload: ${(err as Error).message}`;
      progress.log(`[${name}] FAILED: ${result.error}`);
    }
  }
  return { result, batchLedger };
}

async function start(
  name: TopologyName,
  opts: BenchOptions,
  tag: string,
  env: Record<string, string> = {},
) {
  const topo = await startTopology(name, {
    tag,
    oneProcess: opts.oneProcess,
    dataRoot: resolve(opts.out, 'data'),
    ...(opts.profile ? { profileDir: `${opts.out}/profiles` } : {}),
    env: { ...opts.env, ...env },
  });
  running.add(topo);
  return topo;
}

/** What the phases drive and watch: a running topology, its processes' memory as it goes. */
function phaseTarget(label: string, topo: Topology, rss: RssWatch): PhaseTarget {
  return { label, url: topo.url, children: topo.children, rssMiB: rss.currentMiB, counts: true };
}

const OVERLOAD_BROKER_BACKLOG = 500;

/** Twice the sustainable rate on a fresh instance with a small backlog bound: is the excess refused? */
async function runOverload(
  name: TopologyName,
  opts: BenchOptions,
  tag: string,
  reqPerS: number,
  progress: Progress,
): Promise<NonNullable<TopologyResult['overload']>> {
  // The embedded log is bounded in bytes; a broker's backlog in entries (Redis) or messages
  // (Kafka), each holding the events of one group commit.
  const env = {
    LOG_MAX_UNCONSUMED_BYTES: String(opts.overloadBacklogMiB * 1024 * 1024),
    LOG_MAX_BACKLOG: String(OVERLOAD_BROKER_BACKLOG),
  };
  progress.update(`[${name}] starting the overload instance`);
  const topo = await start(name, opts, tag, env);
  const rss = watchRss(topo.children);
  try {
    const target = phaseTarget(name, topo, rss);
    const spec: PhaseSpec = {
      phase: 'overload',
      batch: opts.batch,
      connections: Math.max(opts.connections, 32),
      durationS: Math.max(opts.durationS, 15),
      reqPerS,
      tag,
    };
    const { result: phase } = await runPhase(target, spec, progress);
    const backlogBound =
      name === 'embedded' || name === 'pg'
        ? `${opts.overloadBacklogMiB} MiB of log`
        : `${OVERLOAD_BROKER_BACKLOG} ${name === 'redis' ? 'stream entries' : 'messages'} (LOG_MAX_BACKLOG)`;
    return { phase, processes: rss.peaks(), env, backlogBound };
  } finally {
    rss.stop();
    running.delete(topo);
    await topo.stop();
  }
}
