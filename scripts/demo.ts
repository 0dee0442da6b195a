/**
 * `npm run demo [-- --days 30] [--scale 1] [--seed 1] [--url URL] [--json]`: fills a data
 * directory (DATA_DIR, default ./demo-data) with a month of traffic for two sites (blog, shop)
 * and one ad campaign (winter-sale), sent through the public ingest API of a Tally it starts
 * (or of the one at --url), then checks that the reports count exactly what was sent.
 *
 * Each visit is one request (one visitor: their IP in X-Forwarded-For, which the started
 * server trusts from 127.0.0.1, so countries vary; their user agent), sent 32 at a time.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, spawnTally, stopChild, type Child } from '../test/harness/spawn.js';
import { sleep, waitReady } from '../test/harness/ready.js';
import { CAMPAIGN, prng, SITES, tally, visitsFor, type Sent, type Visit } from './demo/traffic.js';

const DAY_MS = 86_400_000;
const { values: opts } = parseArgs({
  options: {
    days: { type: 'string', default: '30' },
    scale: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    url: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const days = Number(opts.days);
const scale = Number(opts.scale);
if (!(days >= 1 && days <= 400) || !(scale > 0 && scale <= 100)) {
  process.stderr.write('demo: --days must be 1-400 and --scale above 0 (at most 100)\n');
  process.exit(2);
}
const log = (line: string) => {
  if (!opts.json) {
    process.stdout.write(`${line}\n`);
  }
};

const dataDir = resolve(process.env.DATA_DIR ?? 'demo-data');
let child: Child | undefined;
let base = opts.url;
let adminKey = process.env.TALLY_ADMIN_KEY;
if (base === undefined) {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  child = spawnTally(['serve'], {
    env: {
      AUTH: 'on',
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: String(port),
      TRUSTED_PROXIES: '127.0.0.1',
      RATE_LIMIT_MAX: '0',
      LOG_LEVEL: 'warn',
    },
    keepChars: 20_000,
  });
  log(`starting Tally on ${base} with DATA_DIR=${dataDir} …`);
  await waitReady([child], { url: base }, { timeoutMs: 120_000 });
  adminKey ??= (await readFile(`${dataDir}/admin.key`, 'utf8')).trim();
}

/** The fields of the report answers the demo reads (a loose view of their JSON). */
interface Answer {
  total_views: number;
  events_by_type: Record<string, number>;
  rows?: { impressions: number; clicks: number }[];
}

const admin = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(adminKey ? { authorization: `Bearer ${adminKey}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json: unknown = await res.json().catch(() => undefined);
  return { status: res.status, json: json as Answer };
};

try {
  if (adminKey) {
    for (const s of SITES) {
      const r = await admin('POST', '/v1/sites', {
        site_id: s.id,
        name: s.name,
        origins: [`https://${s.host}`],
      });
      if (r.status !== 201 && r.status !== 409) {
        throw new Error(`registering ${s.id}: ${r.status} ${JSON.stringify(r.json)}`);
      }
    }
  }

  const r = prng(Number(opts.seed));
  const now = Date.now();
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const first = today - (days - 1) * DAY_MS;
  const sent: Sent = {
    sites: {},
    ads: { impressions: 0, clicks: 0 },
    bots: 0,
    requests: 0,
    total: 0,
  };
  const from = new Date(first).toISOString().slice(0, 10);
  const to = new Date(today).toISOString().slice(0, 10);
  // A given DATA_DIR may hold traffic already: what is checked is what this run adds.
  const before = adminKey ? await readCounts(from, to) : undefined;
  const started = performance.now();
  for (let day = first; day <= today; day += DAY_MS) {
    const visits = visitsFor(r, day, now, scale);
    for (const v of visits) {
      for (const e of v.events) {
        e.ts = Math.min(e.ts as number, now); // the last visits of today end now
      }
    }
    await sendAll(base, visits);
    tally(visits, sent);
  }
  const seconds = (performance.now() - started) / 1000;
  log(`sent ${sent.total} events in ${sent.requests} requests in ${seconds.toFixed(1)} s`);

  const verified = before ? await verify(from, to, plus(before, sent)) : undefined;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ from, to, data_dir: dataDir, sent, verified })}\n`);
  } else {
    for (const s of SITES) {
      const x = sent.sites[s.id];
      log(`  ${s.id}: ${x?.views ?? 0} page views; events ${JSON.stringify(x?.events ?? {})}`);
    }
    log(
      `  campaign ${CAMPAIGN.id}: ${sent.ads.impressions} impressions, ${sent.ads.clicks} clicks (CTR ${((100 * sent.ads.clicks) / Math.max(1, sent.ads.impressions)).toFixed(2)} %)`,
    );
    log(`  bots: ${sent.bots} events (counted as drops, reason bot)`);
    log(
      verified === undefined
        ? '(no admin key: reports not checked)'
        : verified
          ? 'the reports count exactly this'
          : 'THE REPORTS DIFFER from what was sent',
    );
    log(`\nopen it: DATA_DIR=${dataDir} npm start, then http://localhost:3000/`);
    log(`  admin key: ${child ? `${dataDir}/admin.key` : 'yours'}; e.g.`);
    log(
      `  curl -H "Authorization: Bearer $(cat ${dataDir}/admin.key)" "http://localhost:3000/v1/stats?site_id=blog&from=${from}&to=${to}"`,
    );
  }
  process.exitCode = verified === false ? 1 : 0;
} finally {
  if (child) {
    await stopChild(child);
  }
}

/** Sends every visit as its own request, `concurrency` at a time; retries a 503 after a while. */
async function sendAll(url: string, visits: Visit[], concurrency = 32): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < visits.length) {
      const v = visits[next++]!;
      for (let attempt = 0; ; attempt++) {
        const res = await fetch(`${url}/v1/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': v.userAgent,
            'x-forwarded-for': v.ip,
          },
          body: JSON.stringify(v.events),
        });
        await res.arrayBuffer();
        if (res.status === 202) {
          break;
        }
        if ((res.status !== 503 && res.status !== 429) || attempt > 20) {
          throw new Error(`POST /v1/events: ${res.status}`);
        }
        await sleep(200 * (attempt + 1));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

type Counts = Pick<Sent, 'sites' | 'ads'>;

/** What the reports count over the range, in the shape of `Sent`. */
async function readCounts(from: string, to: string): Promise<Counts> {
  const sites: Sent['sites'] = {};
  for (const s of SITES) {
    const r = await admin('GET', `/v1/stats?site_id=${s.id}&from=${from}&to=${to}`);
    if (r.json.total_views > 0 || Object.keys(r.json.events_by_type).length > 0) {
      sites[s.id] = { views: r.json.total_views, events: r.json.events_by_type };
    }
  }
  const ads = await admin(
    'GET',
    `/v1/ads/stats?from=${from}&to=${to}&interval=day&group_by=campaign_id&campaign_id=${CAMPAIGN.id}`,
  );
  const rows = ads.json.rows ?? [];
  return {
    sites,
    ads: {
      impressions: rows.reduce((a, x) => a + x.impressions, 0),
      clicks: rows.reduce((a, x) => a + x.clicks, 0),
    },
  };
}

/** `a` and `b` added up. */
function plus(a: Counts, b: Counts): Counts {
  const sites: Sent['sites'] = structuredClone(a.sites);
  for (const [id, x] of Object.entries(b.sites)) {
    const s = (sites[id] ??= { views: 0, events: {} });
    s.views += x.views;
    for (const [type, n] of Object.entries(x.events)) {
      s.events[type] = (s.events[type] ?? 0) + n;
    }
  }
  return {
    sites,
    ads: {
      impressions: a.ads.impressions + b.ads.impressions,
      clicks: a.ads.clicks + b.ads.clicks,
    },
  };
}

/** Polls the report API until it counts `want` (the aggregator runs behind), or 60 s. */
async function verify(from: string, to: string, want: Counts): Promise<boolean> {
  const end = Date.now() + 60_000;
  for (;;) {
    const got = await readCounts(from, to);
    if (canon(got) === canon(want)) {
      return true;
    }
    if (Date.now() > end) {
      process.stderr.write(`demo: reports ${canon(got)}\n  expected ${canon(want)}\n`);
      return false;
    }
    await sleep(500);
  }
}

/** JSON with every object's keys sorted, to compare values whatever their key order. */
function canon(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
