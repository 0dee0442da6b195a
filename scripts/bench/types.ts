/** What one phase of load measured. Latencies are of 202 replies only, in milliseconds. */
export interface PhaseResult {
  phase: PhaseName;
  /** Events per request. */
  batch: number;
  connections: number;
  /** `max`: closed loop (autocannon) as fast as it answers; `paced`: open loop at `offeredReqPerS`. */
  mode: 'max' | 'paced';
  offeredReqPerS?: number;
  durationS: number;
  requests: number;
  statuses: Record<string, number>;
  /** Events that got a 202 during the load (not counting resends of unanswered requests). */
  acceptedEvents: number;
  acceptedPerS: number;
  requestsPerS: number;
  /** Requests refused with 429/503, and how many of them carried Retry-After. */
  refused: number;
  refusedWithRetryAfter: number;
  /** Requests that got no answer (timeout, reset, cut at the end of the run): resent after it. */
  unanswered: number;
  /** Open-loop requests not sent because `connections` requests were already waiting. */
  notSent?: number;
  latencyMs: Percentiles;
  /** The ingest route loaded (routes.ts); absent: `/v1/events`. */
  route?: string;
  /**
   * CPU time of each process during the load (not the counting after it), and per request
   * answered; the last entry is the harness's own process, the load generator.
   */
  cpu?: ProcessCpu[];
  /** From the first request to the moment the reports counted every acknowledged event. */
  e2ePerS?: number;
  e2eS?: number;
  /** Acknowledged events (with resends) and what the reports counted. */
  acknowledged?: number;
  counted?: number;
  exact?: boolean;
  error?: string;
}

/** `warmup`: a short closed-loop run before each measured one (checked for exactness, not reported). */
export type PhaseName = 'warmup' | 'single' | 'single-half' | 'batch' | 'batch-half' | 'overload';

export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export interface ProcessCpu {
  name: string;
  cpuMs: number;
  /** µs of CPU (user + system, every thread) per request answered. */
  usPerRequest: number;
}

export interface ProcessPeak {
  name: string;
  pid: number;
  peakRssMiB: number;
  /** RSS after `--idle` seconds of no load right after start-up (the first instance only). */
  idleRssMiB?: number;
}

export interface TopologyResult {
  topology: string;
  startupS: number;
  processes: ProcessPeak[];
  phases: PhaseResult[];
  /** Separate instance, started with a small backlog bound, driven at twice the sustainable rate. */
  overload?: {
    phase: PhaseResult;
    processes: ProcessPeak[];
    env: Record<string, string>;
    /** What bounds the backlog in this topology. */
    backlogBound: string;
  };
  error?: string;
}

export interface BaselineResult {
  bareSingle?: PhaseResult;
  bareBatch?: PhaseResult;
  /** Single events paced at 1,000/s against the bare server: the latency floor of machine + generator. */
  bareFloor?: PhaseResult;
  bareProcess?: ProcessPeak;
  copy?: { rows: number; seconds: number; rowsPerS: number };
  error?: string;
}

export interface RunResult {
  run: number;
  baselines: BaselineResult;
  topologies: TopologyResult[];
  dedupGrowth?: DedupGrowthResult;
  importSpeed?: ImportSpeedResult;
  edgeAuth?: EdgeAuthResult;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memGiB: number;
  os: string;
  /** File system holding the data dirs (the embedded log fsyncs there). */
  dataFs?: string;
  node: string;
  postgres?: string;
  redis?: string;
  kafka?: string;
  loadAvgStart: number[];
  loadAvgEnd?: number[];
}

/** Rows per second of a series of dedup insert batches (one transaction each). */
export interface BatchRates {
  batches: number;
  /** Median, and the quartiles, of the batches' own rates. */
  rowsPerS: number;
  p25: number;
  p75: number;
}

/**
 * The ids of a dedup measurement: `tally`: UUIDv7 made by Tally at arrival (the new design
 * looks in the current generation only); `client-ordered`: time-ordered UUIDv7 sent by a
 * client (stamped before arrival, so older generations are looked up too); `client-random`:
 * random UUIDv4 sent by a client.
 */
export type DedupIdKind = 'tally' | 'client-ordered' | 'client-random';

export interface DedupSizeResult {
  /** Rows already in the dedup table when the batches start. */
  rows: number;
  /** Pre-fill (server-side SQL), then VACUUM ANALYZE and CHECKPOINT, per design. */
  fill?: { oldS: number; newS: number; vacuumS: number };
  inserts: { kind: DedupIdKind; old?: BatchRates; new: BatchRates }[];
  /**
   * Purge of the previous generation (a window of arrivals, 2/3 of the pre-filled rows): the
   * new design drops its partition; the old one deletes the same rows and vacuums, and also
   * (measured first) its oldest day alone.
   */
  purge?: {
    rows: number;
    newDropMs: number;
    oldDeleteMs: number;
    oldVacuumMs: number;
    dayRows: number;
    oldDayDeleteMs: number;
    oldDayVacuumMs: number;
  };
  exact: boolean;
  errors: string[];
}

export interface DedupGrowthResult {
  batch: number;
  generations: number;
  secondsPerSeries: number;
  sizes: DedupSizeResult[];
  exact: boolean;
  error?: string;
}

export interface ImportRunResult {
  target: 'postgres' | 'embedded';
  dedup: boolean;
  /** From the command's summary line: records read, counted, seconds and rate. */
  records: number;
  counted: number;
  seconds: number;
  eventsPerS: number;
  /** The child process from spawn to exit (Node start-up, database open and close included). */
  wallS: number;
  /** Rows in the dedup and keyed rollup tables afterwards (COPY writes one keyed row per event). */
  tableRows?: Record<string, number>;
  exact: boolean;
  error?: string;
}

export interface ImportSpeedResult {
  events: number;
  fileMiB: number;
  copy?: { rows: number; seconds: number; rowsPerS: number };
  imports: ImportRunResult[];
  exact: boolean;
  error?: string;
}

/**
 * The edge-auth part's cases, per request: `unregistered`: `gate.admit` of one event for a site
 * no one registered (UNREGISTERED_SITES=accept, the default); `origin-single`: one event of a
 * registered site with three origin rules, from an `Origin` its wildcard allows; `origin-batch`:
 * the same with 100 events of that site; `cors`: the decision of the CORS delegator (the
 * registry's `anyAllows` and the options object); `cors-refuse-scan`: the same with
 * UNREGISTERED_SITES=refuse for an origin no registered site lists (a scan of every site).
 */
export type EdgeAuthCase =
  'unregistered' | 'origin-single' | 'origin-batch' | 'cors' | 'cors-refuse-scan' | 'metrics';

export interface EdgeAuthCaseResult {
  case: EdgeAuthCase;
  /** Events per call (0: the CORS decision, which sees no events). */
  events: number;
  /** Calls per timed block. */
  iterations: number;
  /** Median ns per call over the rounds, the loop and the call included. */
  nsPerCall: number;
  /** Median over the rounds of (ns per call − the empty call's ns per call in the same round). */
  addedNs: number;
  /** Quartiles of the added ns over the rounds. */
  addedP25: number;
  addedP75: number;
}

export interface EdgeAuthHttpRound {
  /** Requests/s without the gate and CORS, then with both (the order alternates by round). */
  withoutRps: number;
  withRps: number;
  /** 1e6/withRps − 1e6/withoutRps. */
  addedUs: number;
}

export interface EdgeAuthResult {
  /** A --quick run: too short for its figures to mean much (it checks the harness). */
  quick: boolean;
  /** Registered sites in the registry (one of them the measured one). */
  sites: number;
  micro: {
    rounds: number;
    blockMs: number;
    /** Median ns per call of the empty function, measured the same way. */
    baselineNs: number;
    cases: EdgeAuthCaseResult[];
    /** `delegator`: corsPlugin's own delegator; `replica`: its logic copied here (plugin changed). */
    corsSource: 'hook';
  };
  http?: {
    connections: number;
    secondsPerRound: number;
    rounds: EdgeAuthHttpRound[];
    /** Medians over the rounds. */
    withoutRps: number;
    withRps: number;
    addedUs: number;
    /** withRps ÷ withoutRps, median of the rounds' ratios. */
    ratio: number;
  };
  /** The budget per request, µs. */
  targetUs: number;
  /** Every check held: admitted what should be, refused what should be, every request 202. */
  ok: boolean;
  errors: string[];
}
