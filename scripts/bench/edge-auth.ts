/**
 * What allowed origins and CORS cost on the ingest hot path, in this process.
 *
 * 1. Per request, in-process: the real ingest gate (`createIngestGate`) over a real site registry
 *    (`createSiteRegistry` on a migrated embedded database in a temp dir, the sites inserted with
 *    `insertSite`), and the real CORS `onRequest` hook of `corsPlugin`. Each case is a loop of calls
 *    through one shared function (so every case, and the empty function it is compared with,
 *    pays the same loop and call), timed in blocks of a few ms; the cases alternate block by
 *    block, in a rotating order, for a number of rounds. Reported: the median ns per call and
 *    the median over the rounds of (ns per call − the empty call's in the same round).
 * 2. Over HTTP: two fastify apps built by `buildServer` with `ingestRoutes` on a transport that
 *    takes every batch at once; one plain, one with `corsPlugin` and the gate, as `startApi`
 *    wires them. autocannon (closed-loop.ts) posts single events carrying an allowed `Origin`,
 *    alternating between the two apps (A B, B A, …). Load generator and apps share this
 *    thread, so 1e6 / req/s is the thread's time per request and the difference between the
 *    two apps is what the gate and CORS add to each request.
 * Checks (the part fails when one does not hold): the gate admits what it should (undefined,
 * synchronously) and refuses an origin the site does not list (403); CORS answers a preflight
 * and echoes the origin; every measured request got a 202.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../src/auth/access.js';
import { corsPlugin } from '../../src/auth/cors.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { FailureThrottle } from '../../src/auth/failure-throttle.js';
import { createIngestGate, type IngestGate } from '../../src/auth/ingest-gate.js';
import { createKeyStore } from '../../src/auth/key-store.js';
import { createSiteRegistry, type SiteRegistry } from '../../src/auth/site-registry.js';
import { loadConfig } from '../../src/config.js';
import type { CanonicalEvent } from '../../src/events/event.js';
import type { RequestContext } from '../../src/events/normalize.js';
import { buildServer } from '../../src/http/build-server.js';
import { createDropCounter, type DropCounter } from '../../src/ingest/drop-counter.js';
import { createIngest } from '../../src/ingest/ingest.js';
import { ingestRoutes } from '../../src/ingest/ingest.routes.js';
import { createLogger } from '../../src/logger.js';
import type { Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { createPgliteDb } from '../../src/storage/pglite-db.js';
import { insertSite } from '../../src/storage/sites.repo.js';
import { BROKER_TRAITS, type Transport } from '../../src/transport/transport.js';
import { runClosedLoop } from './closed-loop.js';
import { Ledger } from './ledger.js';
import type { BenchOptions } from './options.js';
import { fmtInt, type Progress } from './progress.js';
import { EDGE_CASE_LABEL as CASE_LABEL, median } from './report.js';
import type {
  EdgeAuthCase,
  EdgeAuthCaseResult,
  EdgeAuthHttpRound,
  EdgeAuthResult,
} from './types.js';

/** The budget per request for allowed origins and CORS together. */
export const TARGET_US = 2;
const SITE = 'bench-edge';
/** Three rules, one a wildcard; the request's origin is allowed by the wildcard (the longest path). */
const ORIGINS = ['https://www.example.com', 'example.net', '*.example.com'];
const ORIGIN = 'https://shop.example.com';
/** Listed by no site: a preflight from it makes the refuse-mode registry look at every site. */
const FOREIGN = 'https://elsewhere.test';
const BATCH = 100;

interface Sizes {
  /** Registered sites: the measured one and fillers (the refuse-mode scan looks at each). */
  sites: number;
  rounds: number;
  blockMs: number;
  http: { warmS: number; roundS: number; pairs: number } | undefined;
}

const sizesFor = (opts: BenchOptions): Sizes =>
  opts.quick
    ? { sites: 20, rounds: 5, blockMs: 4, http: { warmS: 0.5, roundS: 1, pairs: 1 } }
    : { sites: 100, rounds: 21, blockMs: 40, http: { warmS: 2, roundS: 1.5, pairs: 10 } };

export async function runEdgeAuth(
  opts: BenchOptions,
  tag: string,
  progress: Progress,
): Promise<EdgeAuthResult> {
  const sizes = sizesFor(opts);
  const out: EdgeAuthResult = {
    quick: opts.quick,
    sites: sizes.sites,
    micro: {
      rounds: sizes.rounds,
      blockMs: sizes.blockMs,
      baselineNs: 0,
      cases: [],
      corsSource: 'hook',
    },
    targetUs: TARGET_US,
    ok: true,
    errors: [],
  };
  const fail = (msg: string) => {
    out.ok = false;
    out.errors.push(msg);
    progress.log(`[edge-auth] CHECK FAILED: ${msg}`);
  };
  const dir = mkdtempSync(join(tmpdir(), `tally-bench-${tag}-edge-`));
  const config = loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: dir });
  const logger = createLogger(config.logging);
  const closers: (() => Promise<void> | void)[] = [];
  try {
    progress.update('[edge-auth] embedded database: migrating, registering sites');
    const t0 = performance.now();
    const db = await createPgliteDb({ dataDir: join(dir, 'pg') });
    closers.push(() => db.close());
    await migrate(db);
    // Opened before any site exists, and not reloaded: the drop-in default, no site registered.
    const empty = await createSiteRegistry(db, logger, {
      unregistered: config.auth.unregisteredSites,
      refreshMs: 3_600_000,
    });
    closers.push(() => empty.close());
    await registerSites(db, sizes.sites);
    const sites = await createSiteRegistry(db, logger, {
      unregistered: config.auth.unregisteredSites,
    });
    closers.push(() => sites.close());
    await sites.refresh();
    const refusing = await createSiteRegistry(db, logger, { unregistered: 'refuse' });
    closers.push(() => refusing.close());
    await refusing.refresh();
    progress.log(
      `[edge-auth] embedded database migrated, ${sizes.sites} sites registered: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (empty.get(SITE) !== undefined || sites.get(SITE) === undefined) {
      fail(
        `the registries do not hold what they should (empty: ${String(empty.get(SITE) !== undefined)})`,
      );
    }
    // As openAuth builds it (AUTH=on, the default); a request without Authorization never reaches it.
    const keys = createKeyStore(db, logger);
    closers.push(() => keys.close());
    const auth: AuthDeps | undefined = config.auth.enabled
      ? {
          keys,
          sites,
          throttle: new FailureThrottle(config.auth.maxFailuresPerMinute),
          failures: { missing: 0, unknown: 0, revoked: 0, malformed: 0, forbidden: 0 },
        }
      : undefined;
    // As startApi makes it: counts in memory, flushed to the drop ledger every second.
    const drops = createDropCounter(db, logger);
    closers.push(() => drops.close());
    const gate = createIngestGate({ sites, auth, drops });
    const emptyGate = createIngestGate({ sites: empty, auth, drops });

    await measureMicro(
      out,
      {
        gate,
        emptyGate,
        sites,
        refusing,
        drops,
        maxAgeS: config.auth.corsMaxAgeS,
        injectFault: opts.injectFault,
      },
      sizes,
      fail,
      progress,
    );
    if (sizes.http) {
      out.http = await measureHttp(
        { gate, sites, drops, config, logger, connections: opts.connections, tag },
        sizes.http,
        fail,
        progress,
      );
    }
  } catch (err) {
    fail((err as Error).message);
  } finally {
    for (const close of closers.reverse()) {
      await Promise.resolve()
        .then(close)
        .catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  const single = out.micro.cases.find((c) => c.case === 'origin-single');
  const cors = out.micro.cases.find((c) => c.case === 'cors');
  progress.log(
    `[edge-auth] ${out.ok ? 'checks held' : `CHECKS FAILED: ${out.errors.join('; ')}`}; ` +
      `gate + CORS decision ${single && cors ? `${fmtNs(single.addedNs + cors.addedNs)} ns` : '—'} per request in-process` +
      (out.http ? `, ${signed(out.http.addedUs)} µs per request over HTTP` : '') +
      ` (target ≤ ${TARGET_US} µs)`,
  );
  return out;
}

/** The measured site, and fillers `bench-edge-fNNN` with three rules each of their own domain. */
async function registerSites(db: Db, count: number): Promise<void> {
  const base = { name: '', public_reports: false, ingest_key_required: false };
  await insertSite(db, SITE, { ...base, origins: ORIGINS });
  for (let i = 1; i < count; i++) {
    const d = `site${i}.test`;
    await insertSite(db, `${SITE}-f${String(i).padStart(3, '0')}`, {
      ...base,
      origins: [`https://www.${d}`, d, `*.${d}`],
    });
  }
}

type Hook = (req: FastifyRequest, reply: unknown, done: () => void) => void;

/** The `onRequest` hook `corsPlugin` adds, caught by registering the plugin on a stand-in app. */
async function corsHook(sites: SiteRegistry, maxAgeS: number): Promise<Hook> {
  let hook: Hook | undefined;
  const app = {
    addHook: (_name: string, fn: Hook) => {
      hook = fn;
    },
    options: () => undefined,
  };
  await corsPlugin({ sites, maxAgeS })(app as unknown as FastifyInstance);
  if (!hook) {
    throw new Error('corsPlugin added no onRequest hook');
  }
  return hook;
}

/** The `onResponse` hook of `/metrics`, caught by registering it on a stand-in app. */
async function metricsOnResponse(): Promise<Hook> {
  let hook: Hook | undefined;
  const db = { kind: 'postgres' } as unknown as Db;
  const metrics = createMetrics({ db, log: { stats: () => ({ waiting: 0, state: 'up' }) } });
  const app = {
    addHook: (_name: string, fn: Hook) => {
      hook = fn;
    },
  };
  await metrics.httpHooks()(app as unknown as FastifyInstance);
  if (!hook) {
    throw new Error('the metrics plugin added no onResponse hook');
  }
  return hook;
}

let sink = 0;

/** ns per call of `iterations` calls of `fn`; a call that does not answer undefined is counted. */
function block(fn: () => unknown, iterations: number): { ns: number; odd: number } {
  let odd = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    if (fn() !== undefined) {
      odd++;
    }
  }
  const ns = Number(process.hrtime.bigint() - t0) / iterations;
  sink += odd;
  return { ns, odd };
}

async function measureMicro(
  out: EdgeAuthResult,
  deps: {
    gate: IngestGate;
    emptyGate: IngestGate;
    sites: SiteRegistry;
    refusing: SiteRegistry;
    drops: DropCounter;
    maxAgeS: number;
    /** Self-test: the refusal check probes an allowed origin, so it must fail. */
    injectFault: boolean;
  },
  sizes: Sizes,
  fail: (msg: string) => void,
  progress: Progress,
): Promise<void> {
  const now = Date.now();
  const event = (i: number): CanonicalEvent => ({
    event_id: `edge-${i}`,
    type: 'page_view',
    ts: now,
    received_at: now,
    site_id: SITE,
    path: `/p${i % 50}`,
    user_id: `u${i % 1000}`,
  });
  const one = [event(0)];
  const batch = Array.from({ length: BATCH }, (_, i) => event(i));
  const ctx: RequestContext = {
    now,
    userAgent: 'Mozilla/5.0 (bench)',
    ip: '127.0.0.1',
    origin: ORIGIN,
    authorization: undefined,
  };

  // The checks first: a refusal answers a rejected promise, which a timed loop must not make.
  const admitted = (name: string, g: IngestGate, events: CanonicalEvent[], c: RequestContext) => {
    const r = g.admit(events, c);
    if (r !== undefined) {
      r.catch(() => undefined);
      fail(`${name}: not admitted synchronously`);
      return false;
    }
    return true;
  };
  const probe = deps.injectFault ? ORIGIN : FOREIGN;
  const refusal = await deps.gate.admit(one, { ...ctx, origin: probe })?.then(
    () => 'admitted',
    (err: unknown) => String((err as { statusCode?: number }).statusCode),
  );
  const refused = refusal === '403';
  if (!refused) {
    fail(`an origin the site does not list: ${refusal ?? 'admitted synchronously'}, not 403`);
  }
  const hook = await corsHook(deps.sites, deps.maxAgeS);
  const hookRefusing = await corsHook(deps.refusing, deps.maxAgeS);
  // What the hook set on the response: allow-origin, or false when it set none.
  let decided: unknown = false;
  const reply = {
    raw: {
      setHeader: (name: string, value: string) => {
        if (name === 'access-control-allow-origin') {
          decided = value;
        }
      },
    },
  };
  const done = () => undefined;
  const req = (origin: string) =>
    ({ headers: { origin }, url: '/v1/events', method: 'POST' }) as unknown as FastifyRequest;
  const reqAllowed = req(ORIGIN);
  const reqForeign = req(FOREIGN);
  const decide = (h: Hook, r: FastifyRequest) => {
    decided = false;
    h(r, reply, done);
    return decided;
  };
  if (decide(hook, reqAllowed) !== ORIGIN) {
    fail(`CORS: the allowed origin got ${JSON.stringify(decided)}`);
  }
  if (decide(hookRefusing, reqForeign) !== false) {
    fail(`CORS, UNREGISTERED_SITES=refuse: an origin no site lists got ${JSON.stringify(decided)}`);
  }

  // /metrics' onResponse hook as every request runs it: a counter and a histogram observation.
  const metricsHook = await metricsOnResponse();
  const metricsReq = {
    method: 'POST',
    routeOptions: { url: '/v1/events' },
  } as unknown as FastifyRequest;
  const metricsReply = { statusCode: 202, elapsedTime: 0.6 };

  const empty = (_events: readonly CanonicalEvent[], _ctx: RequestContext): undefined => undefined;
  const cases: {
    name: EdgeAuthCase | 'baseline';
    events: number;
    fn: () => unknown;
    ok: boolean;
  }[] = [
    { name: 'baseline', events: 1, fn: () => empty(one, ctx), ok: true },
    {
      name: 'unregistered',
      events: 1,
      fn: () => deps.emptyGate.admit(one, ctx),
      ok: admitted('unregistered site', deps.emptyGate, one, ctx),
    },
    {
      name: 'origin-single',
      events: 1,
      fn: () => deps.gate.admit(one, ctx),
      ok: refused && admitted('registered site, allowed origin', deps.gate, one, ctx),
    },
    {
      name: 'origin-batch',
      events: BATCH,
      fn: () => deps.gate.admit(batch, ctx),
      ok: refused && admitted(`registered site, batch of ${BATCH}`, deps.gate, batch, ctx),
    },
    { name: 'cors', events: 0, fn: () => void hook(reqAllowed, reply, done), ok: true },
    {
      name: 'cors-refuse-scan',
      events: 0,
      fn: () => void hookRefusing(reqForeign, reply, done),
      ok: true,
    },
    {
      name: 'metrics',
      events: 0,
      fn: () => void metricsHook(metricsReq, metricsReply, done),
      ok: true,
    },
  ];
  const timed = cases.filter((c) => c.ok);

  // Warm-up and calibration: every case through the same call site (which thus sees them all
  // before anything counts), then enough calls per block for blockMs.
  const iterations = new Map<string, number>();
  for (const c of timed) {
    let n = 1000;
    for (;;) {
      const { ns } = block(c.fn, n);
      if (ns * n >= sizes.blockMs * 1e6 * 0.25 || n >= 1 << 26) {
        iterations.set(c.name, Math.max(1000, Math.round((sizes.blockMs * 1e6) / ns)));
        break;
      }
      n *= 2;
    }
  }
  const ns = new Map<string, number[]>(timed.map((c) => [c.name, []]));
  const added = new Map<string, number[]>(timed.map((c) => [c.name, []]));
  for (let round = 0; round < sizes.rounds; round++) {
    progress.update(`[edge-auth] in-process: round ${round + 1} of ${sizes.rounds}`);
    const inRound = new Map<string, number>();
    for (let k = 0; k < timed.length; k++) {
      const c = timed[(k + round) % timed.length]!;
      const r = block(c.fn, iterations.get(c.name)!);
      if (r.odd > 0) {
        fail(`${c.name}: ${r.odd} calls were not admitted synchronously`);
      }
      inRound.set(c.name, r.ns);
      ns.get(c.name)!.push(r.ns);
    }
    const base = inRound.get('baseline')!;
    for (const [name, v] of inRound) {
      added.get(name)!.push(v - base);
    }
    // Lets the registries' reload timers run between rounds, as they do between requests.
    await new Promise((resolve) => setImmediate(resolve));
  }
  out.micro.baselineNs = round2(median(ns.get('baseline')!) ?? 0);
  for (const c of timed) {
    if (c.name === 'baseline') {
      continue;
    }
    const a = added
      .get(c.name)!
      .slice()
      .sort((x, y) => x - y);
    const q = (p: number) => round2(a[Math.min(a.length - 1, Math.floor(p * a.length))] ?? 0);
    const r: EdgeAuthCaseResult = {
      case: c.name,
      events: c.events,
      iterations: iterations.get(c.name)!,
      nsPerCall: round2(median(ns.get(c.name)!) ?? 0),
      addedNs: round2(median(a) ?? 0),
      addedP25: q(0.25),
      addedP75: q(0.75),
    };
    out.micro.cases.push(r);
    progress.log(
      `[edge-auth] ${CASE_LABEL[c.name].replace(/`/g, '')}: ${fmtNs(r.nsPerCall)} ns per call, ` +
        `+${fmtNs(r.addedNs)} ns over the empty call (${fmtNs(out.micro.baselineNs)} ns; quartiles ${fmtNs(r.addedP25)}–${fmtNs(r.addedP75)})`,
    );
  }
  if (sink < 0) {
    progress.log('');
  }
}

/** A transport that takes every batch at once and keeps nothing. */
const noTransport: Transport = {
  name: 'none',
  traits: BROKER_TRAITS,
  publish: async () => undefined,
  consume: async () => undefined,
  stopConsuming: async () => undefined,
  stats: () => ({ waiting: 0, state: 'up' }),
  close: async () => undefined,
};

async function measureHttp(
  deps: {
    gate: IngestGate;
    sites: SiteRegistry;
    drops: DropCounter;
    config: ReturnType<typeof loadConfig>;
    logger: ReturnType<typeof createLogger>;
    connections: number;
    tag: string;
  },
  s: { warmS: number; roundS: number; pairs: number },
  fail: (msg: string) => void,
  progress: Progress,
): Promise<NonNullable<EdgeAuthResult['http']>> {
  const { config, logger } = deps;
  const ingestOpts = {
    maxEventsPerRequest: config.ingest.maxEventsPerRequest,
    minTsMs: config.ingest.minTsMs,
    maxFutureMs: config.ingest.maxFutureMs,
    visitorSalt: () => 'bench-edge-salt',
  };
  const http = { maxBodyBytes: config.http.maxBodyBytes };
  const plain = await buildServer(logger, http, [
    ingestRoutes(createIngest({ transport: noTransport, drops: deps.drops }, ingestOpts)),
  ]);
  const guarded = await buildServer(logger, http, [
    corsPlugin({ sites: deps.sites, maxAgeS: config.auth.corsMaxAgeS }),
    ingestRoutes(
      createIngest({ transport: noTransport, drops: deps.drops, gate: deps.gate }, ingestOpts),
    ),
  ]);
  const out: NonNullable<EdgeAuthResult['http']> = {
    connections: deps.connections,
    secondsPerRound: s.roundS,
    rounds: [],
    withoutRps: 0,
    withRps: 0,
    addedUs: 0,
    ratio: 0,
  };
  try {
    const urls = {
      without: await plain.listen({ port: 0, host: '127.0.0.1' }),
      with: await guarded.listen({ port: 0, host: '127.0.0.1' }),
    };
    await checkHttp(urls, fail);
    let n = 0;
    const load = async (which: 'without' | 'with', durationS: number): Promise<number> => {
      const ledger = new Ledger(SITE, `${deps.tag}e${n++}-`, 1);
      const r = await runClosedLoop(urls[which], ledger, {
        connections: deps.connections,
        durationS,
        headers: { origin: ORIGIN },
      });
      const other = Object.entries(r.statuses).filter(([status]) => status !== '202');
      if (other.length > 0) {
        fail(`HTTP ${which} the gate and CORS: ${other.map(([k, v]) => `${v} × ${k}`).join(', ')}`);
      }
      ledger.takeUnanswered();
      return r.requests / r.durationS;
    };
    progress.update(`[edge-auth] HTTP: warming up both apps, ${s.warmS} s each`);
    await load('without', s.warmS);
    await load('with', s.warmS);
    for (let pair = 0; pair < s.pairs; pair++) {
      progress.update(`[edge-auth] HTTP: round ${pair + 1} of ${s.pairs}, ${s.roundS} s per app`);
      const order =
        pair % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
      const rps: Record<string, number> = {};
      for (const which of order) {
        rps[which] = await load(which, s.roundS);
      }
      const round: EdgeAuthHttpRound = {
        withoutRps: Math.round(rps.without!),
        withRps: Math.round(rps.with!),
        addedUs: round3(1e6 / rps.with! - 1e6 / rps.without!),
      };
      out.rounds.push(round);
      progress.log(
        `[edge-auth] HTTP round ${pair + 1}: without ${fmtInt(round.withoutRps)} req/s, with the gate and CORS ${fmtInt(round.withRps)} req/s: ` +
          `${signed(round.addedUs)} µs per request`,
      );
    }
    out.withoutRps = Math.round(median(out.rounds.map((r) => r.withoutRps)) ?? 0);
    out.withRps = Math.round(median(out.rounds.map((r) => r.withRps)) ?? 0);
    out.addedUs = round3(median(out.rounds.map((r) => r.addedUs)) ?? 0);
    out.ratio = round3(median(out.rounds.map((r) => r.withRps / r.withoutRps)) ?? 0);
  } finally {
    await Promise.all([plain.close(), guarded.close()]);
  }
  return out;
}

/** The two apps answer as they should before they are timed. */
async function checkHttp(urls: { without: string; with: string }, fail: (msg: string) => void) {
  const body = JSON.stringify({ type: 'page_view', site_id: SITE, path: '/' });
  const post = async (url: string, origin: string) => {
    const res = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin },
      body,
    });
    await res.arrayBuffer();
    return { status: res.status, acao: res.headers.get('access-control-allow-origin') };
  };
  const plain = await post(urls.without, ORIGIN);
  if (plain.status !== 202 || plain.acao !== null) {
    fail(`HTTP without the gate: ${plain.status}, allow-origin ${String(plain.acao)}`);
  }
  const allowed = await post(urls.with, ORIGIN);
  if (allowed.status !== 202 || allowed.acao !== ORIGIN) {
    fail(`HTTP, an allowed origin: ${allowed.status}, allow-origin ${String(allowed.acao)}`);
  }
  const foreign = await post(urls.with, FOREIGN);
  if (foreign.status !== 403) {
    fail(`HTTP, an origin the site does not list: ${foreign.status}, not 403`);
  }
  const pre = await fetch(`${urls.with}/v1/events`, {
    method: 'OPTIONS',
    headers: {
      origin: ORIGIN,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  });
  await pre.arrayBuffer();
  if (pre.status !== 204 || pre.headers.get('access-control-allow-origin') !== ORIGIN) {
    fail(
      `HTTP preflight: ${pre.status}, allow-origin ${String(pre.headers.get('access-control-allow-origin'))}`,
    );
  }
}

const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
export const fmtNs = (v: number) => (Math.abs(v) < 10 ? v.toFixed(1) : fmtInt(v));
const round2 = (v: number) => Math.round(v * 100) / 100;
const round3 = (v: number) => Math.round(v * 1000) / 1000;
