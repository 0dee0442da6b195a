import { fmtInt } from './progress.js';
import type { PhaseName, PhaseResult, RunResult, TopologyResult } from './types.js';

/** One topology's figures, each the median over the runs (ratios are taken within a run first). */
export interface SummaryRow {
  topology: string;
  runs: number;
  startupS?: number;
  single: Side;
  batch: Side;
  /** Peak RSS per process name, MiB. */
  peakRssMiB: Record<string, number>;
  overload?: {
    offeredPerS?: number;
    acceptedPerS?: number;
    refusedShare?: number;
    refusedWithRetryAfterShare?: number;
    p99?: number;
    peakRssMiB: Record<string, number>;
    backlogBound: string;
  };
  exact: boolean;
  errors: string[];
}

interface Side {
  acceptedPerS?: number;
  ratioToBare?: number;
  p50?: number;
  p99?: number;
  p999?: number;
  halfP99?: number;
  halfPerS?: number;
  e2ePerS?: number;
  ratioToCopy?: number;
}

export interface Summary {
  rows: SummaryRow[];
  bareSinglePerS?: number;
  bareBatchPerS?: number;
  copyRowsPerS?: number;
  floorP99?: number;
  allExact: boolean;
}

export function summarize(runs: RunResult[]): Summary {
  const names = [...new Set(runs.flatMap((r) => r.topologies.map((t) => t.topology)))];
  const rows = names.map((name) => {
    const per = runs.flatMap((r) => {
      const t = r.topologies.find((x) => x.topology === name);
      return t ? [{ run: r, t }] : [];
    });
    const side = (
      max: PhaseName,
      half: PhaseName,
      bare: 'bareSingle' | 'bareBatch',
      copy: boolean,
    ): Side => {
      const ph = (t: TopologyResult, p: PhaseName) => t.phases.find((x) => x.phase === p);
      return {
        acceptedPerS: median(per.map(({ t }) => ph(t, max)?.acceptedPerS)),
        ratioToBare: median(
          per.map(({ t, run }) =>
            ratio(ph(t, max)?.acceptedPerS, run.baselines[bare]?.acceptedPerS),
          ),
        ),
        p50: median(per.map(({ t }) => ph(t, max)?.latencyMs.p50)),
        p99: median(per.map(({ t }) => ph(t, max)?.latencyMs.p99)),
        p999: median(per.map(({ t }) => ph(t, max)?.latencyMs.p999)),
        halfP99: median(per.map(({ t }) => ph(t, half)?.latencyMs.p99)),
        halfPerS: median(per.map(({ t }) => ph(t, half)?.acceptedPerS)),
        e2ePerS: median(per.map(({ t }) => ph(t, max)?.e2ePerS)),
        ...(copy
          ? {
              ratioToCopy: median(
                per.map(({ t, run }) => ratio(ph(t, max)?.e2ePerS, run.baselines.copy?.rowsPerS)),
              ),
            }
          : {}),
      };
    };
    const phases = per.flatMap(({ t }) => [...t.phases, ...(t.overload ? [t.overload.phase] : [])]);
    const overloads = per.flatMap(({ t }) => (t.overload ? [t.overload] : []));
    const row: SummaryRow = {
      topology: name,
      runs: per.length,
      startupS: median(per.map(({ t }) => t.startupS)),
      single: side('single', 'single-half', 'bareSingle', false),
      batch: side('batch', 'batch-half', 'bareBatch', true),
      peakRssMiB: rssByName(per.map(({ t }) => t.processes)),
      exact:
        phases.length > 0 &&
        phases.every((p) => p.exact === true) &&
        per.every(({ t }) => !t.error),
      errors: [
        ...per.flatMap(({ t }) => (t.error ? [t.error] : [])),
        ...phases.flatMap((p) => (p.error ? [p.error] : [])),
      ],
    };
    if (overloads.length > 0) {
      const share = (p: PhaseResult, n: number) => (p.requests > 0 ? n / p.requests : undefined);
      row.overload = {
        offeredPerS: median(overloads.map((o) => (o.phase.offeredReqPerS ?? 0) * o.phase.batch)),
        acceptedPerS: median(overloads.map((o) => o.phase.acceptedPerS)),
        refusedShare: median(overloads.map((o) => share(o.phase, o.phase.refused))),
        refusedWithRetryAfterShare: median(
          overloads.map((o) =>
            o.phase.refused > 0 ? o.phase.refusedWithRetryAfter / o.phase.refused : undefined,
          ),
        ),
        p99: median(overloads.map((o) => o.phase.latencyMs.p99)),
        peakRssMiB: rssByName(overloads.map((o) => o.processes)),
        backlogBound: overloads[0]!.backlogBound ?? '—',
      };
    }
    return row;
  });
  return {
    rows,
    bareSinglePerS: median(runs.map((r) => r.baselines.bareSingle?.acceptedPerS)),
    bareBatchPerS: median(runs.map((r) => r.baselines.bareBatch?.acceptedPerS)),
    copyRowsPerS: median(runs.map((r) => r.baselines.copy?.rowsPerS)),
    floorP99: median(runs.map((r) => r.baselines.bareFloor?.latencyMs.p99)),
    allExact: rows.every((r) => r.exact),
  };
}

/** The results as Markdown tables (printed at the end of a run and pasted into docs/benchmarks.md). */
export function markdown(s: Summary, batch: number): string {
  const n = (v?: number) => (v === undefined ? '—' : fmtInt(v));
  const x = (v?: number) => (v === undefined ? '—' : `${v.toFixed(2)}×`);
  const ms = (v?: number) => (v === undefined ? '—' : v < 10 ? v.toFixed(2) : v.toFixed(1));
  const lat = (d: Side) => `${ms(d.p50)} / ${ms(d.p99)} / ${ms(d.p999)}`;
  const rss = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([k, v]) => `${k.replace('tally ', '')} ${v}`)
      .join(', ') || '—';
  const out: string[] = [];
  out.push(
    `Baselines: bare node:http ${n(s.bareSinglePerS)} req/s with single events, ${n(s.bareBatchPerS)} events/s in batches of ${batch}; ` +
      `PostgreSQL COPY into a keyed table ${n(s.copyRowsPerS)} rows/s. ` +
      `Latency floor (bare node:http, 1,000 single events/s paced): p99 ${ms(s.floorP99)} ms.`,
    '',
    '| topology | single events: accepted/s | × bare | ack p50 / p99 / p99.9 ms | p99 at half rate | batches of ' +
      `${batch}: accepted events/s | × bare | ack p50 / p99 / p99.9 ms | p99 at half rate | end-to-end events/s | × COPY |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of s.rows) {
    out.push(
      `| ${r.topology} | ${n(r.single.acceptedPerS)} | ${x(r.single.ratioToBare)} | ${lat(r.single)} | ${ms(r.single.halfP99)} ` +
        `| ${n(r.batch.acceptedPerS)} | ${x(r.batch.ratioToBare)} | ${lat(r.batch)} | ${ms(r.batch.halfP99)} ` +
        `| ${n(r.batch.e2ePerS)} | ${x(r.batch.ratioToCopy)} |`,
    );
  }
  out.push(
    '',
    '| topology | start-up s | single events end-to-end/s | peak RSS MiB | counts exact |',
    '| --- | ---: | ---: | --- | --- |',
  );
  for (const r of s.rows) {
    out.push(
      `| ${r.topology} | ${r.startupS ?? '—'} | ${n(r.single.e2ePerS)} | ${rss(r.peakRssMiB)} | ${r.exact ? `yes (${r.runs} run${r.runs > 1 ? 's' : ''})` : `**NO**: ${r.errors.join('; ')}`} |`,
    );
  }
  const over = s.rows.filter((r) => r.overload);
  if (over.length > 0) {
    out.push(
      '',
      `| overload (2× sustainable, batches of ${batch}) | offered events/s | accepted events/s | refused requests | refusals with Retry-After | ack p99 ms | peak RSS MiB | backlog bound |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    );
    for (const r of over) {
      const o = r.overload!;
      const pct = (v?: number) => (v === undefined ? '—' : `${(v * 100).toFixed(1)} %`);
      out.push(
        `| ${r.topology} | ${n(o.offeredPerS)} | ${n(o.acceptedPerS)} | ${pct(o.refusedShare)} | ${pct(o.refusedWithRetryAfterShare)} | ${ms(o.p99)} | ${rss(o.peakRssMiB)} | ${o.backlogBound} |`,
      );
    }
  }
  return out.join('\n');
}

function rssByName(lists: { name: string; peakRssMiB: number }[][]): Record<string, number> {
  const names = [...new Set(lists.flat().map((p) => p.name))];
  return Object.fromEntries(
    names.map((name) => [
      name,
      median(lists.map((l) => l.find((p) => p.name === name)?.peakRssMiB)) ?? 0,
    ]),
  );
}

const ratio = (a?: number, b?: number) => (a !== undefined && b ? a / b : undefined);

export function median(values: (number | undefined)[]): number | undefined {
  const v = values
    .filter((x): x is number => x !== undefined && Number.isFinite(x))
    .sort((a, b) => a - b);
  if (v.length === 0) {
    return undefined;
  }
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1]! + v[mid]!) / 2;
}
