import { parseArgs } from 'node:util';
import { ROUTE_NAMES, type RouteName } from './routes.js';
import type { PhaseName } from './types.js';

export const TOPOLOGIES = ['embedded', 'pg', 'redis', 'kafka'] as const;
export type TopologyName = (typeof TOPOLOGIES)[number];
const PHASES: Exclude<PhaseName, 'warmup'>[] = [
  'single',
  'single-half',
  'batch',
  'batch-half',
  'overload',
];

export interface BenchOptions {
  topologies: TopologyName[];
  phases: PhaseName[];
  /** Ingest routes the single-event phase loads, one after the other (routes.ts). */
  routes: RouteName[];
  /** Seconds of unreported load before each measured closed-loop phase (JIT, caches, pools). */
  warmupS: number;
  /** Seconds each topology idles after start-up before the first phase; its RSS then is reported. */
  idleS: number;
  durationS: number;
  connections: number;
  batch: number;
  runs: number;
  quick: boolean;
  baselines: boolean;
  /** Run redis/kafka as one `tally serve` process instead of `tally api` + `tally worker`. */
  oneProcess: boolean;
  /** Start Tally with `--cpu-prof`; profiles go to `<out>/profiles`. */
  profile: boolean;
  /** Backlog bound (MiB) of the instance driven at twice the sustainable rate. */
  overloadBacklogMiB: number;
  /** Extra environment for every Tally process (`--env KEY=VALUE`, repeatable). */
  env: Record<string, string>;
  /** Self-test: one phase forgets an acknowledged request, so the exactness check must fail. */
  injectFault: boolean;
  out: string;
  /** Where the SVG chart goes; undefined: `<out>/<stamp>.svg` only. */
  chart: string | undefined;
  /** The dedup table's insert rate and purge time at growing sizes, old design against new. */
  dedupGrowth: boolean;
  /** Rows already in the dedup table at each measured size. */
  dedupSizes: number[];
  /** `tally import` of an NDJSON file, into PostgreSQL and the embedded database, beside COPY. */
  importSpeed: boolean;
  /** Page views in the generated import file. */
  importEvents: number;
  /** What allowed origins and CORS add per ingest request: in-process calls, then over HTTP. */
  edgeAuth: boolean;
}

export const USAGE = `usage: npm run bench -- [options]
  --quick                 short run to check the harness (embedded, 2 s phases, no overload,
                          tiny dedup-growth, import and edge-auth parts)
  -t, --topology LIST     embedded,pg,redis,kafka (default embedded,redis,kafka)
                          pg = tally serve with the embedded log and a PostgreSQL server
  --dedup-growth          dedup insert rate and purge time as the table grows, old single
                          table against the partitioned one, on the PostgreSQL server
  --dedup-sizes LIST      rows already present (default 0,10M,50M; --quick 0,14k,70k)
  --import                tally import of generated page views (PostgreSQL, embedded;
                          with and without dedup) beside COPY of the same rows
  --import-events N       page views in the import file (default 1M; --quick 5k)
  --reports               alone: report latency over a year of one site (1 M visitors, 50,000
                          paths) on embedded and PostgreSQL (reports.ts: --db, --runs,
                          --visitors, --paths)
  --edge-auth             what allowed origins and CORS cost per ingest request: the gate and
                          the CORS decision in-process (ns per request, against an empty call),
                          then fastify with and without them over HTTP (µs per request)
                          Parts: a run without -t, --phases, --dedup-growth, --import or
                          --edge-auth runs everything; those alone run only those parts
  -d, --duration S        seconds of load per phase (default 10)
  -c, --connections N     concurrent connections of the load generator (default 10)
  -b, --batch N           events per request in the batch phases (default 100)
  --warmup S              unreported load before each measured phase (default 3, --quick 1)
  --idle S                idle after start-up, then report each process's RSS (default 10, --quick 1)
  --runs N                repeat everything N times and report medians (default 1)
  --phases LIST           ${PHASES.join(',')} (default all; --quick: no overload)
  --routes LIST           ingest routes loaded with single events, one phase each:
                          ${ROUTE_NAMES.join(',')} (default v1; seed-NNN: that seed's route;
                          all: every one); the batch phases always use v1
  --no-baselines          skip the bare node:http and COPY baselines
  --one-process           redis/kafka as one \`tally serve\` instead of api + worker
  --profile               run Tally under --cpu-prof (profiles in <out>/profiles)
  --env KEY=VALUE         extra environment for Tally (repeatable), e.g. --env AGG_BATCH_MAX_EVENTS=1000
  --inject-fault          self-test: the harness forgets one acknowledged request in the
                          batch phase (and, in the import and dedup-growth parts, its recounts
                          are off by one; the edge-auth part expects an allowed origin to be
                          refused), so the run must report NOT EXACT and exit 1
  --overload-backlog N    backlog bound in MiB for the overload phase (default 32)
  --out DIR               results directory (default bench-results)
  --chart FILE            also write the chart there (default docs/benchmarks.svg unless --quick)`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      topology: { type: 'string', short: 't' },
      duration: { type: 'string', short: 'd' },
      connections: { type: 'string', short: 'c' },
      batch: { type: 'string', short: 'b' },
      runs: { type: 'string' },
      warmup: { type: 'string' },
      idle: { type: 'string' },
      phases: { type: 'string' },
      routes: { type: 'string' },
      'no-baselines': { type: 'boolean', default: false },
      'one-process': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'inject-fault': { type: 'boolean', default: false },
      env: { type: 'string', multiple: true },
      'overload-backlog': { type: 'string' },
      out: { type: 'string', default: 'bench-results' },
      chart: { type: 'string' },
      'dedup-growth': { type: 'boolean', default: false },
      'dedup-sizes': { type: 'string' },
      import: { type: 'boolean', default: false },
      'import-events': { type: 'string' },
      'edge-auth': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    throw new UsageError('');
  }
  const quick = values.quick;
  // Naming a part selects it; naming none runs them all.
  const parts = values['dedup-growth'] || values.import || values['edge-auth'];
  const selected = parts || values.topology !== undefined || values.phases !== undefined;
  const topologies =
    values.topology === undefined && parts
      ? []
      : list(
          values.topology ?? (quick ? 'embedded' : 'embedded,redis,kafka'),
          TOPOLOGIES,
          'topology',
        );
  const phases = list(
    values.phases ?? PHASES.filter((p) => !quick || p !== 'overload').join(','),
    PHASES,
    'phases',
  );
  const routes = list(
    values.routes === 'all' ? ROUTE_NAMES.join(',') : (values.routes ?? 'v1'),
    ROUTE_NAMES,
    'routes',
  );
  return {
    topologies,
    phases,
    routes,
    durationS: num(values.duration, quick ? 2 : 10, 1, 3600, 'duration'),
    warmupS: num(values.warmup, quick ? 1 : 3, 0, 600, 'warmup'),
    idleS: num(values.idle, quick ? 1 : 10, 0, 600, 'idle'),
    connections: num(values.connections, 10, 1, 1000, 'connections'),
    batch: num(values.batch, 100, 2, 1000, 'batch'),
    runs: num(values.runs, 1, 1, 20, 'runs'),
    quick,
    baselines: !values['no-baselines'],
    oneProcess: values['one-process'],
    profile: values.profile,
    injectFault: values['inject-fault'],
    env: Object.fromEntries(
      (values.env ?? []).map((kv) => {
        const at = kv.indexOf('=');
        if (at < 1) {
          throw new UsageError(`--env wants KEY=VALUE, got ${JSON.stringify(kv)}`);
        }
        return [kv.slice(0, at), kv.slice(at + 1)];
      }),
    ),
    overloadBacklogMiB: num(values['overload-backlog'], 32, 1, 1024, 'overload-backlog'),
    out: values.out,
    chart: values.chart ?? (quick || topologies.length === 0 ? undefined : 'docs/benchmarks.svg'),
    dedupGrowth: values['dedup-growth'] || !selected,
    dedupSizes: [
      ...new Set(
        (values['dedup-sizes'] ?? (quick ? '0,14k,70k' : '0,10M,50M'))
          .split(',')
          .map((s) => count(s.trim(), 0, 500_000_000, 'dedup-sizes')),
      ),
    ].sort((a, b) => a - b),
    importSpeed: values.import || !selected,
    importEvents: count(
      values['import-events'] ?? (quick ? '5k' : '1M'),
      10,
      100_000_000,
      'import-events',
    ),
    edgeAuth: values['edge-auth'] || !selected,
  };
}

export class UsageError extends Error {}

/** A whole number, optionally with a k or M suffix: `50M`, `14k`, `5000`. */
function count(raw: string, min: number, max: number, name: string): number {
  const m = /^(\d+(?:\.\d+)?)([kM]?)$/.exec(raw);
  const n = m ? Number(m[1]) * (m[2] === 'k' ? 1e3 : m[2] === 'M' ? 1e6 : 1) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `--${name} takes whole numbers from ${min} to ${max} (k and M suffixes allowed), got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

function num(
  raw: string | undefined,
  dflt: number,
  min: number,
  max: number,
  name: string,
): number {
  if (raw === undefined) {
    return dflt;
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

function list<T extends string>(raw: string, allowed: readonly T[], name: string): T[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      throw new UsageError(
        `--${name}: unknown ${JSON.stringify(item)} (one of ${allowed.join(', ')})`,
      );
    }
  }
  return [...new Set(items)] as T[];
}
