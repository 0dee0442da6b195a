import type { Child } from '../../test/harness/spawn.js';
import { runClosedLoop } from './closed-loop.js';
import { cpuSince, markCpu } from './cpu.js';
import { resendUnanswered, utcDate, waitCounted } from './exactness.js';
import { Ledger } from './ledger.js';
import type { LoadOutcome, LoadProgress } from './load-tally.js';
import { runPaced } from './paced.js';
import { fmtInt, fmtK, type Progress } from './progress.js';
import { type RouteName, ROUTES } from './routes.js';
import type { PhaseName, PhaseResult } from './types.js';

export interface PhaseTarget {
  label: string;
  url: string;
  /** For the progress line: current RSS of each process. */
  children: Child[];
  rssMiB: (c: Child) => number;
  /** False for the bare baseline: nothing is counted there. */
  counts: boolean;
}

export interface PhaseSpec {
  phase: PhaseName;
  batch: number;
  connections: number;
  durationS: number;
  /** Open loop at this rate; closed loop (as fast as it answers) when absent. */
  reqPerS?: number;
  /** Unique per phase: names the site and prefixes the event ids. */
  tag: string;
  /** Forget one acknowledged request before counting: the check must then fail. */
  injectFault?: boolean;
  /** The ingest route (routes.ts); `/v1/events` when absent. */
  route?: RouteName;
}

/**
 * One phase: load for a fixed time, resend what got no answer, then (unless a baseline) wait
 * until the reports count exactly the acknowledged events. Returns the ledger too, whose
 * acknowledged ids the COPY baseline reuses.
 */
export async function runPhase(
  target: PhaseTarget,
  spec: PhaseSpec,
  progress: Progress,
): Promise<{ result: PhaseResult; ledger: Ledger }> {
  const route = ROUTES[spec.route ?? 'v1'];
  const ledger = new Ledger(`bench-${spec.tag}`, `${spec.tag}-`, spec.batch, target.counts, route);
  const fromDate = utcDate();
  const head = `[${target.label}] ${spec.phase}${route.name === 'v1' ? '' : ` ${route.path}`}${spec.reqPerS ? ` @${fmtK(spec.reqPerS * spec.batch)} ev/s` : ''}`;
  const t0 = Date.now();
  const onTick = (p: LoadProgress) => {
    const s = (Date.now() - t0) / 1000;
    const rss = target.children
      .map((c) => `${c.name.replace('tally ', '')} ${target.rssMiB(c)} MiB`)
      .join(', ');
    progress.update(
      `${head}  ${s.toFixed(0)}/${spec.durationS} s  acked ${fmtInt(p.acceptedEvents)} ev (${fmtK(p.acceptedEvents / s)}/s)` +
        `  refused ${p.refused}  rss ${rss}`,
    );
  };
  const cpuFrom = markCpu(target.children);
  const load: LoadOutcome = spec.reqPerS
    ? await runPaced(target.url, ledger, {
        reqPerS: spec.reqPerS,
        connections: spec.connections,
        durationS: spec.durationS,
        onTick,
      })
    : await runClosedLoop(target.url, ledger, {
        connections: spec.connections,
        durationS: spec.durationS,
        onTick,
      });
  // Before the resends and the counting: the CPU of the load alone (the aggregator of
  // `tally serve` works through what it has been given meanwhile, and is counted in).
  const cpu = cpuSince(cpuFrom, target.children, load.requests);
  const unanswered = ledger.unansweredCount();
  const result: PhaseResult = {
    phase: spec.phase,
    batch: spec.batch,
    connections: spec.connections,
    mode: spec.reqPerS ? 'paced' : 'max',
    ...(spec.reqPerS ? { offeredReqPerS: Math.round(spec.reqPerS) } : {}),
    durationS: round(load.durationS, 2),
    requests: load.requests,
    statuses: load.statuses,
    acceptedEvents: load.acceptedEvents,
    acceptedPerS: Math.round(load.acceptedEvents / load.durationS),
    requestsPerS: Math.round(load.requests / load.durationS),
    refused: load.refused,
    refusedWithRetryAfter: load.refusedWithRetryAfter,
    unanswered,
    ...(load.notSent ? { notSent: load.notSent } : {}),
    latencyMs: load.latencyMs,
    ...(spec.route && spec.route !== 'v1' ? { route: spec.route } : {}),
    cpu,
  };
  if (!target.counts) {
    ledger.takeUnanswered();
    progress.log(`${head}: ${describe(result)}`);
    return { result, ledger };
  }
  await resendUnanswered(target.url, ledger);
  if (spec.injectFault) {
    ledger.forgetOne();
  }
  const count = await waitCounted(target.url, ledger.site, ledger.acknowledged, fromDate, {
    onProgress: (counted) =>
      progress.update(
        `${head}  counting: ${fmtInt(counted)} of ${fmtInt(ledger.acknowledged)} acknowledged events`,
      ),
  });
  const e2eS = (count.caughtUpAt - load.startedAt) / 1000;
  Object.assign(result, {
    acknowledged: ledger.acknowledged,
    counted: count.counted,
    exact: count.exact,
    ...(result.mode === 'max'
      ? { e2eS: round(e2eS, 2), e2ePerS: Math.round(ledger.acknowledged / e2eS) }
      : {}),
    ...(count.error ? { error: count.error } : {}),
  });
  progress.log(`${head}: ${describe(result)}`);
  return { result, ledger };
}

export function describe(r: PhaseResult): string {
  const l = r.latencyMs;
  const parts = [
    `${fmtInt(r.acceptedPerS)} ev/s accepted (${fmtInt(r.requestsPerS)} req/s)`,
    `ack p50 ${l.p50} ms p99 ${l.p99} ms p99.9 ${l.p999} ms`,
  ];
  if (r.cpu && r.cpu.length > 0) {
    parts.push(
      `CPU µs/req ${r.cpu.map((c) => `${c.name.replace('tally ', '').replace(' (load generator)', '')} ${c.usPerRequest}`).join(', ')}`,
    );
  }
  if (r.e2ePerS !== undefined) {
    parts.push(`end-to-end ${fmtInt(r.e2ePerS)} ev/s (${r.e2eS} s)`);
  }
  if (r.refused > 0) {
    parts.push(`refused ${r.refused} (${r.refusedWithRetryAfter} with Retry-After)`);
  }
  if (r.unanswered > 0) {
    parts.push(`${r.unanswered} unanswered, resent`);
  }
  if (r.notSent) {
    parts.push(`${r.notSent} not sent (client saturated)`);
  }
  if (r.exact !== undefined) {
    parts.push(
      r.exact ? `exact (${fmtInt(r.counted ?? 0)} counted)` : `NOT EXACT: ${r.error ?? ''}`,
    );
  }
  return parts.join(', ');
}

const round = (n: number, d: number) => Math.round(n * 10 ** d) / 10 ** d;
