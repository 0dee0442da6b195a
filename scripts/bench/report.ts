import { fmtInt } from './progress.js';
import type {
  DedupIdKind,
  EdgeAuthCase,
  DedupSizeResult,
  ImportRunResult,
  PhaseName,
  PhaseResult,
  RunResult,
  TopologyResult,
} from './types.js';

/** One topology's figures, each the median over the runs (ratios are taken within a run first). */
export interface SummaryRow {
  topology: string;
  runs: number;
  startupS?: number;
  single: Side;
  batch: Side;
  /** Single events per ingest route (`/v1` first): rate and CPU per request, closed loop. */
  routes: RouteRow[];
  /** Peak RSS per process name, MiB. */
  peakRssMiB: Record<string, number>;
  /** RSS per process name after `--idle` seconds without load, right after start-up, MiB. */
  idleRssMiB: Record<string, number>;
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

/** One route's single-event phase, medians over the runs (ratios taken within a run). */
export interface RouteRow {
  route: string;
  requestsPerS?: number;
  /** requests/s ÷ `/v1`'s in the same run. */
  ratioToV1?: number;
  /** µs of CPU per request by process name (the harness's own last). */
  cpuUs: Record<string, number>;
  /** The API process's (`tally api` or `tally serve`) CPU per request ÷ the bare server's. */
  apiCpuToBare?: number;
  /** The API process's CPU per request ÷ its own on `/v1` in the same run. */
  apiCpuToV1?: number;
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
  /** The bare server's CPU per single-event request, µs. */
  bareSingleCpuUs?: number;
  bareBatchPerS?: number;
  copyRowsPerS?: number;
  floorP99?: number;
  dedupGrowth?: DedupSummary;
  importSpeed?: ImportSummary;
  edgeAuth?: EdgeAuthSummary;
  allExact: boolean;
}

/** The edge-auth part, each figure the median over the runs. */
export interface EdgeAuthSummary {
  runs: number;
  quick: boolean;
  sites: number;
  rounds: number;
  blockMs: number;
  baselineNs?: number;
  corsSource: 'hook';
  cases: { case: EdgeAuthCase; events: number; nsPerCall?: number; addedNs?: number }[];
  http?: {
    connections: number;
    secondsPerRound: number;
    rounds: number;
    withoutRps?: number;
    withRps?: number;
    addedUs?: number;
    /** Lowest and highest per-round difference, µs (all runs). */
    addedUsRange: [number, number];
    ratio?: number;
  };
  targetUs: number;
  /** The gate's and the CORS decision's added ns for a single event, as µs. */
  inProcessUs?: number;
  /** Over HTTP when it was measured, else in-process, within the target. */
  targetMet?: boolean;
  ok: boolean;
  errors: string[];
}

/** The dedup growth part, each figure the median over the runs. */
export interface DedupSummary {
  runs: number;
  batch: number;
  generations: number;
  secondsPerSeries: number;
  sizes: {
    rows: number;
    fill?: { oldS?: number; newS?: number; vacuumS?: number };
    inserts: {
      kind: DedupIdKind;
      oldRowsPerS?: number;
      newRowsPerS?: number;
      /** new ÷ old within each run (for Tally's own ids: ÷ old with client time-ordered ids). */
      ratio?: number;
      batches: { old: number; new: number };
    }[];
    purge?: {
      rows: number;
      newDropMs?: number;
      oldDeleteMs?: number;
      oldVacuumMs?: number;
      dayRows: number;
      oldDayDeleteMs?: number;
      oldDayVacuumMs?: number;
    };
  }[];
  exact: boolean;
  errors: string[];
}

/** The import part, each figure the median over the runs. */
export interface ImportSummary {
  runs: number;
  events: number;
  fileMiB: number;
  copyRowsPerS?: number;
  copySeconds?: number;
  /** Keyed rows the default import into PostgreSQL wrote (first run). */
  tableRows?: Record<string, number>;
  imports: {
    target: ImportRunResult['target'];
    dedup: boolean;
    eventsPerS?: number;
    seconds?: number;
    wallS?: number;
    ratioToCopy?: number;
    exact: boolean;
  }[];
  exact: boolean;
  errors: string[];
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
      const ph = (t: TopologyResult, p: PhaseName) =>
        t.phases.find((x) => x.phase === p && x.route === undefined);
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
      routes: routeRows(per),
      peakRssMiB: rssByName(per.map(({ t }) => t.processes)),
      idleRssMiB: rssByName(
        per.map(({ t }) => t.processes),
        'idleRssMiB',
      ),
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
  const dedup = summarizeDedup(runs);
  const imports = summarizeImport(runs);
  const edge = summarizeEdgeAuth(runs);
  return {
    rows,
    bareSinglePerS: median(runs.map((r) => r.baselines.bareSingle?.acceptedPerS)),
    bareSingleCpuUs: median(runs.map((r) => bareCpuUs(r.baselines.bareSingle))),
    bareBatchPerS: median(runs.map((r) => r.baselines.bareBatch?.acceptedPerS)),
    copyRowsPerS: median(runs.map((r) => r.baselines.copy?.rowsPerS)),
    floorP99: median(runs.map((r) => r.baselines.bareFloor?.latencyMs.p99)),
    ...(dedup ? { dedupGrowth: dedup } : {}),
    ...(imports ? { importSpeed: imports } : {}),
    ...(edge ? { edgeAuth: edge } : {}),
    allExact:
      rows.every((r) => r.exact) &&
      (dedup?.exact ?? true) &&
      (imports?.exact ?? true) &&
      (edge?.ok ?? true),
  };
}

/** The bare server's own CPU per request in a phase (not the harness's). */
const bareCpuUs = (p?: PhaseResult) =>
  p?.cpu?.find((c) => !c.name.startsWith('harness'))?.usPerRequest;

/** The process that answers HTTP: `tally api`, else `tally serve`. */
const apiCpuUs = (p?: PhaseResult) =>
  (p?.cpu?.find((c) => c.name === 'tally api') ?? p?.cpu?.find((c) => c.name === 'tally serve'))
    ?.usPerRequest;

function routeRows(per: { run: RunResult; t: TopologyResult }[]): RouteRow[] {
  const single = (t: TopologyResult, route: string) =>
    t.phases.find((x) => x.phase === 'single' && (x.route ?? 'v1') === route);
  const names = [
    ...new Set(
      per.flatMap(({ t }) =>
        t.phases.filter((x) => x.phase === 'single').map((x) => x.route ?? 'v1'),
      ),
    ),
  ];
  return names.map((route) => {
    const procs = [
      ...new Set(per.flatMap(({ t }) => (single(t, route)?.cpu ?? []).map((c) => c.name))),
    ];
    return {
      route,
      requestsPerS: median(per.map(({ t }) => single(t, route)?.requestsPerS)),
      ratioToV1: median(
        per.map(({ t }) => ratio(single(t, route)?.requestsPerS, single(t, 'v1')?.requestsPerS)),
      ),
      cpuUs: Object.fromEntries(
        procs.map((name) => [
          name,
          median(
            per.map(({ t }) => single(t, route)?.cpu?.find((c) => c.name === name)?.usPerRequest),
          ) ?? 0,
        ]),
      ),
      apiCpuToBare: median(
        per.map(({ t, run }) =>
          ratio(apiCpuUs(single(t, route)), bareCpuUs(run.baselines.bareSingle)),
        ),
      ),
      apiCpuToV1: median(
        per.map(({ t }) => ratio(apiCpuUs(single(t, route)), apiCpuUs(single(t, 'v1')))),
      ),
    };
  });
}

function summarizeDedup(runs: RunResult[]): DedupSummary | undefined {
  const per = runs.flatMap((r) => (r.dedupGrowth ? [r.dedupGrowth] : []));
  if (per.length === 0) {
    return undefined;
  }
  const sizes = [...new Set(per.flatMap((d) => d.sizes.map((s) => s.rows)))].sort((a, b) => a - b);
  const kinds: DedupIdKind[] = ['tally', 'client-ordered', 'client-random'];
  return {
    runs: per.length,
    batch: per[0]!.batch,
    generations: per[0]!.generations,
    secondsPerSeries: per[0]!.secondsPerSeries,
    sizes: sizes.map((rows) => {
      const at = per.flatMap((d) => d.sizes.filter((s) => s.rows === rows));
      const ins = (s: DedupSizeResult, k: DedupIdKind) => s.inserts.find((i) => i.kind === k);
      const fills = at.flatMap((s) => (s.fill ? [s.fill] : []));
      const purges = at.flatMap((s) => (s.purge ? [s.purge] : []));
      return {
        rows,
        ...(fills.length > 0
          ? {
              fill: {
                oldS: median(fills.map((f) => f.oldS)),
                newS: median(fills.map((f) => f.newS)),
                vacuumS: median(fills.map((f) => f.vacuumS)),
              },
            }
          : {}),
        inserts: kinds
          .filter((k) => at.some((s) => ins(s, k)))
          .map((kind) => ({
            kind,
            oldRowsPerS: median(at.map((s) => ins(s, kind)?.old?.rowsPerS)),
            newRowsPerS: median(at.map((s) => ins(s, kind)?.new.rowsPerS)),
            ratio: median(
              at.map((s) =>
                ratio(
                  ins(s, kind)?.new.rowsPerS,
                  (ins(s, kind)?.old ?? ins(s, 'client-ordered')?.old)?.rowsPerS,
                ),
              ),
            ),
            batches: {
              old: at.reduce((a, s) => a + (ins(s, kind)?.old?.batches ?? 0), 0),
              new: at.reduce((a, s) => a + (ins(s, kind)?.new.batches ?? 0), 0),
            },
          })),
        ...(purges.length > 0
          ? {
              purge: {
                rows: purges[0]!.rows,
                oldDeleteMs: median(purges.map((p) => p.oldDeleteMs)),
                oldVacuumMs: median(purges.map((p) => p.oldVacuumMs)),
                newDropMs: median(purges.map((p) => p.newDropMs)),
                dayRows: purges[0]!.dayRows,
                oldDayDeleteMs: median(purges.map((p) => p.oldDayDeleteMs)),
                oldDayVacuumMs: median(purges.map((p) => p.oldDayVacuumMs)),
              },
            }
          : {}),
      };
    }),
    exact: per.every((d) => d.exact && !d.error && d.sizes.length > 0),
    errors: per.flatMap((d) => [
      ...(d.error ? [d.error] : []),
      ...d.sizes.flatMap((s) => s.errors.map((e) => `${s.rows} rows: ${e}`)),
    ]),
  };
}

function summarizeImport(runs: RunResult[]): ImportSummary | undefined {
  const per = runs.flatMap((r) => (r.importSpeed ? [r.importSpeed] : []));
  if (per.length === 0) {
    return undefined;
  }
  const pick = (i: { imports: ImportRunResult[] }, target: string, dedup: boolean) =>
    i.imports.find((x) => x.target === target && x.dedup === dedup);
  const variants = (['postgres', 'embedded'] as const).flatMap((target) =>
    [true, false].map((dedup) => ({ target, dedup })),
  );
  return {
    runs: per.length,
    events: per[0]!.events,
    fileMiB: per[0]!.fileMiB,
    copyRowsPerS: median(per.map((i) => i.copy?.rowsPerS)),
    copySeconds: median(per.map((i) => i.copy?.seconds)),
    tableRows: per[0] && pick(per[0], 'postgres', true)?.tableRows,
    imports: variants
      .filter(({ target, dedup }) => per.some((i) => pick(i, target, dedup)))
      .map(({ target, dedup }) => ({
        target,
        dedup,
        eventsPerS: median(per.map((i) => pick(i, target, dedup)?.eventsPerS)),
        seconds: median(per.map((i) => pick(i, target, dedup)?.seconds)),
        wallS: median(per.map((i) => pick(i, target, dedup)?.wallS)),
        ratioToCopy: median(
          per.map((i) => ratio(pick(i, target, dedup)?.eventsPerS, i.copy?.rowsPerS)),
        ),
        exact: per.every((i) => pick(i, target, dedup)?.exact === true),
      })),
    exact: per.every((i) => i.exact && !i.error && i.imports.length === 4),
    errors: per.flatMap((i) => [
      ...(i.error ? [i.error] : []),
      ...i.imports.flatMap((x) =>
        x.error ? [`${x.target}${x.dedup ? '' : ' --no-dedup'}: ${x.error}`] : [],
      ),
    ]),
  };
}

function summarizeEdgeAuth(runs: RunResult[]): EdgeAuthSummary | undefined {
  const per = runs.flatMap((r) => (r.edgeAuth ? [r.edgeAuth] : []));
  if (per.length === 0) {
    return undefined;
  }
  const names: EdgeAuthCase[] = [
    'unregistered',
    'origin-single',
    'origin-batch',
    'cors',
    'cors-refuse-scan',
    'metrics',
  ];
  const pick = (e: (typeof per)[number], name: EdgeAuthCase) =>
    e.micro.cases.find((c) => c.case === name);
  const cases = names
    .filter((name) => per.some((e) => pick(e, name)))
    .map((name) => ({
      case: name,
      events: per.map((e) => pick(e, name)?.events).find((v) => v !== undefined) ?? 0,
      nsPerCall: median(per.map((e) => pick(e, name)?.nsPerCall)),
      addedNs: median(per.map((e) => pick(e, name)?.addedNs)),
    }));
  const https = per.flatMap((e) => (e.http && e.http.rounds.length > 0 ? [e.http] : []));
  const added = https.flatMap((h) => h.rounds.map((r) => r.addedUs));
  const http: EdgeAuthSummary['http'] =
    https.length > 0
      ? {
          connections: https[0]!.connections,
          secondsPerRound: https[0]!.secondsPerRound,
          rounds: https[0]!.rounds.length,
          withoutRps: median(https.map((h) => h.withoutRps)),
          withRps: median(https.map((h) => h.withRps)),
          addedUs: median(https.map((h) => h.addedUs)),
          addedUsRange: [Math.min(...added), Math.max(...added)],
          ratio: median(https.map((h) => h.ratio)),
        }
      : undefined;
  const single = cases.find((c) => c.case === 'origin-single')?.addedNs;
  const cors = cases.find((c) => c.case === 'cors')?.addedNs;
  const inProcessUs =
    single !== undefined && cors !== undefined ? (single + cors) / 1000 : undefined;
  const targetUs = per[0]!.targetUs;
  const headline = http?.addedUs ?? inProcessUs;
  return {
    runs: per.length,
    quick: per.some((e) => e.quick),
    sites: per[0]!.sites,
    rounds: per[0]!.micro.rounds,
    blockMs: per[0]!.micro.blockMs,
    baselineNs: median(per.map((e) => e.micro.baselineNs)),
    corsSource: 'hook',
    cases,
    ...(http ? { http } : {}),
    targetUs,
    ...(inProcessUs !== undefined ? { inProcessUs: Math.round(inProcessUs * 1000) / 1000 } : {}),
    ...(headline !== undefined ? { targetMet: headline <= targetUs } : {}),
    ok: per.every((e) => e.ok && e.micro.cases.length > 0),
    errors: per.flatMap((e) => e.errors),
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
  if (s.rows.length === 0) {
    return [
      markdownDedup(s.dedupGrowth),
      markdownImport(s.importSpeed),
      markdownEdgeAuth(s.edgeAuth),
    ]
      .filter(Boolean)
      .join('\n\n');
  }
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
    '| topology | start-up s | idle RSS MiB | single events end-to-end/s | peak RSS MiB | counts exact |',
    '| --- | ---: | --- | ---: | --- | --- |',
  );
  for (const r of s.rows) {
    out.push(
      `| ${r.topology} | ${r.startupS ?? '—'} | ${rss(r.idleRssMiB)} | ${n(r.single.e2ePerS)} | ${rss(r.peakRssMiB)} | ${r.exact ? `yes (${r.runs} run${r.runs > 1 ? 's' : ''})` : `**NO**: ${r.errors.join('; ')}`} |`,
    );
  }
  const withCpu = s.rows.filter((r) => r.routes.some((rt) => Object.keys(rt.cpuUs).length > 0));
  if (withCpu.length > 0) {
    const us = (v?: number) => (v === undefined ? '—' : v.toFixed(1));
    out.push(
      '',
      `CPU per single-event request (user + system, every thread, during the closed-loop load): bare node:http ${us(s.bareSingleCpuUs)} µs.`,
      '',
      '| topology | route | req/s | × /v1 | CPU µs per request, by process | API CPU × bare | API CPU × /v1 |',
      '| --- | --- | ---: | ---: | --- | ---: | ---: |',
    );
    for (const r of withCpu) {
      for (const rt of r.routes) {
        const cpu = Object.entries(rt.cpuUs)
          .map(([k, v]) => `${k.replace('tally ', '').replace(' (load generator)', '')} ${us(v)}`)
          .join(', ');
        out.push(
          `| ${r.topology} | ${rt.route} | ${n(rt.requestsPerS)} | ${x(rt.ratioToV1)} | ${cpu} | ${x(rt.apiCpuToBare)} | ${x(rt.apiCpuToV1)} |`,
        );
      }
    }
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
  return [
    out.join('\n'),
    markdownDedup(s.dedupGrowth),
    markdownImport(s.importSpeed),
    markdownEdgeAuth(s.edgeAuth),
  ]
    .filter(Boolean)
    .join('\n\n');
}

const KIND_LABEL: Record<DedupIdKind, string> = {
  tally: "Tally's UUIDv7 (made at arrival)",
  'client-ordered': "client's UUIDv7 (time-ordered)",
  'client-random': "client's random UUIDv4",
};

/** Rows as 50M, 10M, 14k. */
export function fmtRows(n: number): string {
  if (n >= 1e6 && n % 1e5 === 0) {
    return `${n / 1e6}M`;
  }
  return n >= 1e3 && n % 100 === 0 ? `${n / 1e3}k` : String(n);
}

export function markdownDedup(d?: DedupSummary): string {
  if (!d) {
    return '';
  }
  const n = (v?: number) => (v === undefined ? '—' : fmtInt(v));
  const out: string[] = [
    `Dedup insert, batches of ${fmtInt(d.batch)} new ids, one transaction each; median rows/s of the batches ` +
      `(${d.secondsPerSeries} s of batches per design and kind of id, the designs alternating batch by batch${d.runs > 1 ? `; median of ${d.runs} runs` : ''}). ` +
      `Old: one table keyed on event_id (migrations 0001 + 0004). New: partitioned by arrival generation (0005), ` +
      `the rows present arriving over 10.5 days: the previous generation full (a 7-day window), the current one half full.`,
    '',
    '| rows present | ids | old: one table, rows/s | new: by arrival, rows/s | new ÷ old |',
    '| ---: | --- | ---: | ---: | ---: |',
  ];
  for (const size of d.sizes) {
    for (const i of size.inserts) {
      const old =
        i.oldRowsPerS !== undefined
          ? n(i.oldRowsPerS)
          : `(${n(size.inserts.find((x) => x.kind === 'client-ordered')?.oldRowsPerS)})`;
      out.push(
        `| ${fmtRows(size.rows)} | ${KIND_LABEL[i.kind]} | ${old} | ${n(i.newRowsPerS)} | ${i.ratio === undefined ? '—' : `${i.ratio.toFixed(2)}×`} |`,
      );
    }
  }
  out.push(
    '',
    "(Parenthesised: the old design writes every id alike; its figure for the client's time-ordered ids.)",
  );
  const purged = d.sizes.filter((s) => s.purge);
  if (purged.length > 0) {
    out.push(
      '',
      '| rows present | purge of the previous generation (a window), rows | new: dropGenerationsEndedBy (DROP of its partition), ms | old: DELETE … WHERE ts_ms < … of the same rows, ms | old: VACUUM after it, ms | old, its oldest day alone: rows, DELETE + VACUUM ms |',
      '| ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const s of purged) {
      const p = s.purge!;
      out.push(
        `| ${fmtRows(s.rows)} | ${n(p.rows)} | ${p.newDropMs?.toFixed(1) ?? '—'} | ${n(p.oldDeleteMs)} | ${n(p.oldVacuumMs)} | ${n(p.dayRows)}: ${n(p.oldDayDeleteMs)} + ${n(p.oldDayVacuumMs)} |`,
      );
    }
  }
  const filled = d.sizes.filter((s) => s.fill);
  if (filled.length > 0) {
    out.push(
      '',
      'Pre-fill (server-side `INSERT … SELECT … generate_series`, both designs at once on two connections), then `VACUUM ANALYZE` and `CHECKPOINT`: ' +
        filled
          .map(
            (s) =>
              `${fmtRows(s.rows)} rows: old ${s.fill!.oldS ?? '—'} s, new ${s.fill!.newS ?? '—'} s, then ${s.fill!.vacuumS ?? '—'} s`,
          )
          .join('; ') +
        '.',
    );
  }
  out.push(
    '',
    d.exact
      ? 'Dedup counts exact: every new id written once, repeated and older-generation ids refused, each purge removing exactly its rows.'
      : `Dedup counts **NOT EXACT**: ${d.errors.join('; ')}`,
  );
  return out.join('\n');
}

export function markdownImport(i?: ImportSummary): string {
  if (!i) {
    return '';
  }
  const n = (v?: number) => (v === undefined ? '—' : fmtInt(v));
  const out: string[] = [
    `Import of ${fmtInt(i.events)} page views (NDJSON, ${i.fileMiB} MiB: 20 sites, 500 paths, 5,000 users, 30 days; client UUIDv7 ids), ` +
      `\`tally import FILE --quiet\` as a child process, events/s from its summary line${i.runs > 1 ? `; median of ${i.runs} runs` : ''}:`,
    '',
    '| into | events/s | × COPY | seconds (summary line) | seconds (process) | counts exact |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    `| COPY (event_id, site_id, day, path, user_id) into a keyed table, PostgreSQL | ${n(i.copyRowsPerS)} | 1.00× | ${i.copySeconds ?? '—'} | — | — |`,
  ];
  for (const x of i.imports) {
    out.push(
      `| ${x.target === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : 'embedded (DATA_DIR)'}, ${x.dedup ? 'default' : '--no-dedup'} | ` +
        `${n(x.eventsPerS)} | ${x.ratioToCopy === undefined ? '—' : `${x.ratioToCopy.toFixed(2)}×`} | ${x.seconds ?? '—'} | ${x.wallS ?? '—'} | ` +
        `${x.exact ? 'yes' : '**NO**'} |`,
    );
  }
  if (i.tableRows) {
    out.push(
      '',
      `Keyed rows the default import wrote (COPY: one per event): ${Object.entries(i.tableRows)
        .map(([t, v]) => `${t} ${fmtInt(v)}`)
        .join(', ')}.`,
    );
  }
  if (!i.exact) {
    out.push('', `Import counts **NOT EXACT**: ${i.errors.join('; ')}`);
  }
  return out.join('\n');
}

export const EDGE_CASE_LABEL: Record<EdgeAuthCase | 'baseline', string> = {
  baseline: 'empty function call (the baseline)',
  unregistered: '`gate.admit`: site not registered (UNREGISTERED_SITES=accept, the default)',
  'origin-single':
    '`gate.admit`: registered site, 3 origin rules, `Origin` allowed by its `*.example.com`',
  'origin-batch': '`gate.admit`: the same, a batch of events of that site',
  cors: 'CORS decision (the `corsPlugin` onRequest hook: origin check, two raw headers)',
  'cors-refuse-scan': 'CORS decision, UNREGISTERED_SITES=refuse, an `Origin` no site lists',
  metrics: '`/metrics` onResponse hook: request counter and latency histogram (target ≤ 1 µs)',
};

export function markdownEdgeAuth(e?: EdgeAuthSummary): string {
  if (!e) {
    return '';
  }
  const ns = (v?: number) => (v === undefined ? '—' : Math.abs(v) < 10 ? v.toFixed(1) : fmtInt(v));
  const us = (v?: number) => (v === undefined ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(2)}`);
  const runs = e.runs > 1 ? `; median of ${e.runs} runs` : '';
  const out: string[] = [
    `Allowed origins and CORS at the edge, per request, in-process: the real ingest gate and CORS hook over a site registry ` +
      `of ${e.sites} sites on the embedded database; medians of ${e.rounds} rounds of ${e.blockMs} ms blocks per case, the cases interleaved, ` +
      `each minus an empty function call measured the same way in the same round (${ns(e.baselineNs)} ns per call)${runs}` +
      ':',
    '',
    '| per request | events | ns per call | added ns | added ns per event |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const c of e.cases) {
    out.push(
      `| ${EDGE_CASE_LABEL[c.case]}${c.case === 'cors-refuse-scan' ? ` (${e.sites} sites)` : ''} | ${c.events || '—'} | ${ns(c.nsPerCall)} | ${ns(c.addedNs)} | ` +
        `${c.events > 1 && c.addedNs !== undefined ? ns(c.addedNs / c.events) : '—'} |`,
    );
  }
  if (e.http) {
    const h = e.http;
    out.push(
      '',
      `Over HTTP: fastify (\`buildServer\`) with \`ingestRoutes\` on a no-op transport, without and with \`corsPlugin\` + the gate; ` +
        `single-event POSTs with an allowed \`Origin\`, ${h.connections} connections (autocannon in the same process), ` +
        `${h.rounds} rounds of ${h.secondsPerRound} s per app, alternating${runs}:`,
      '',
      '| without gate + CORS, req/s | with, req/s | with ÷ without (per round) | added µs per request (1e6/with − 1e6/without, per round) | rounds: lowest … highest µs |',
      '| ---: | ---: | ---: | ---: | ---: |',
      `| ${h.withoutRps === undefined ? '—' : fmtInt(h.withoutRps)} | ${h.withRps === undefined ? '—' : fmtInt(h.withRps)} | ` +
        `${h.ratio === undefined ? '—' : `${h.ratio.toFixed(3)}×`} | ${us(h.addedUs)} | ${us(h.addedUsRange[0])} … ${us(h.addedUsRange[1])} |`,
    );
  }
  const verdict = e.targetMet === undefined ? 'not measured' : e.targetMet ? 'met' : '**NOT met**';
  out.push(
    '',
    `${e.quick ? '(--quick: rounds too short and too few for these figures to mean much.) ' : ''}` +
      `Target ≤ ${e.targetUs} µs per request: ${verdict} ` +
      `(${e.http?.addedUs !== undefined ? `over HTTP ${us(e.http.addedUs)} µs; ` : ''}` +
      `in-process, gate + CORS decision for one event ${e.inProcessUs === undefined ? '—' : `${e.inProcessUs.toFixed(3)} µs`}).`,
  );
  if (!e.ok) {
    out.push('', `Edge-auth checks **FAILED**: ${e.errors.join('; ')}`);
  }
  return out.join('\n');
}

function rssByName(
  lists: { name: string; peakRssMiB: number; idleRssMiB?: number }[][],
  key: 'peakRssMiB' | 'idleRssMiB' = 'peakRssMiB',
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of new Set(lists.flat().map((p) => p.name))) {
    const m = median(lists.map((l) => l.find((p) => p.name === name)?.[key]));
    if (m !== undefined) {
      out[name] = m;
    }
  }
  return out;
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
