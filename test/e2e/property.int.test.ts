/**
 * Property: for random streams with duplicates, disorder and midnight/hour boundaries, sent in
 * concurrent batches over HTTP, every figure the reports give equals a recount of the stream:
 * totals, paths, types, series, ads, and every breakdown, filter and realtime figure. The
 * recount is independent of the code under test: events come from a few fixed clients (user
 * agent and forwarded IP) and referrers whose browser, OS, device, country and source are
 * stated literally below.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { caughtUp, get, post, startServer, type TestServer } from '../helpers/server.js';

const DAY = 86_400_000;
const M =
  Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - DAY;
const d0 = new Date(M - DAY).toISOString().slice(0, 10);
const d1 = new Date(M).toISOString().slice(0, 10);
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const hourOf = (ms: number) => new Date(ms - (ms % 3_600_000)).toISOString();
const minuteOf = (ms: number) => new Date(ms - (ms % 60_000)).toISOString();

let s: TestServer;
let run = 0;
beforeAll(async () => {
  s = await startServer({ TRUSTED_PROXIES: '127.0.0.1,::1' });
});

const UA = {
  chrome:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  iphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  bot: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
};
/** A client: one user agent and one address; each request comes from one client. */
const CLIENTS = [
  {
    ua: UA.chrome,
    ip: '8.8.8.8',
    browser: 'Chrome',
    os: 'Windows',
    device: 'desktop',
    country: 'US',
  },
  {
    ua: UA.chrome,
    ip: '81.2.69.142',
    browser: 'Chrome',
    os: 'Windows',
    device: 'desktop',
    country: 'GB',
  },
  {
    ua: UA.firefox,
    ip: '2001:4860:4860::8888',
    browser: 'Firefox',
    os: 'Linux',
    device: 'desktop',
    country: 'US',
  },
  {
    ua: UA.iphone,
    ip: '133.242.0.3',
    browser: 'Safari',
    os: 'iOS',
    device: 'mobile',
    country: 'JP',
  },
  {
    ua: UA.iphone,
    ip: '10.1.2.3',
    browser: 'Safari',
    os: 'iOS',
    device: 'mobile',
    country: '(unknown)',
  },
  { ua: UA.bot, ip: '8.8.8.8', bot: true },
] as const;
const HOST = 'https://site.example';
/** Referrers and their source; the site's own host is internal navigation (no source). */
const REFERRERS = [
  { referrer: undefined, source: '(direct)' },
  { referrer: 'https://www.google.com/search?q=x', source: 'Google' },
  { referrer: 'https://blog.example.org/post', source: 'blog.example.org' },
  { referrer: `${HOST}/before`, source: undefined },
] as const;
/** Query strings of the page URL and their UTM tags. */
const UTMS: { q: string; utm: Record<string, string> }[] = [
  { q: '', utm: {} },
  { q: '?utm_campaign=spring', utm: { utm_campaign: 'spring' } },
  {
    q: '?utm_source=news&utm_medium=email&utm_campaign=autumn&utm_term=shoes&utm_content=banner',
    utm: {
      utm_source: 'news',
      utm_medium: 'email',
      utm_campaign: 'autumn',
      utm_term: 'shoes',
      utm_content: 'banner',
    },
  },
];
const DIMS = [
  'source',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
  'browser',
  'os',
  'device',
  'country',
] as const;
type Dim = (typeof DIMS)[number];
afterAll(async () => {
  await s.close();
});

const tsArb = fc.oneof(
  fc.constantFrom(
    M - 1,
    M,
    M + 1,
    M - 3_600_000,
    M + 3_599_999,
    M + 3_600_000,
    M + DAY - 1,
    M - DAY,
    M + 59_999,
    M + 60_000,
  ),
  fc.integer({ min: M - DAY, max: M + DAY - 1 }),
);
const eventArb = fc.record({
  type: fc.constantFrom('page_view', 'page_view', 'signup', 'impression', 'click'),
  site: fc.constantFrom('a', 'b'),
  path: fc.constantFrom('/', '/x', '/y?q=1', '/z#frag'),
  user: fc.option(fc.constantFrom('u1', 'u2', 'u3'), { nil: undefined }),
  visitor: fc.option(fc.constantFrom('v1', 'v2'), { nil: undefined }),
  ad: fc.constantFrom('ad1', 'ad2'),
  campaign: fc.option(fc.constantFrom('c1', 'c2'), { nil: undefined }),
  ts: tsArb,
  client: fc.nat({ max: CLIENTS.length - 1 }),
  ref: fc.nat({ max: REFERRERS.length - 1 }),
  utm: fc.nat({ max: UTMS.length - 1 }),
  plan: fc.constantFrom('free', 'pro'),
  /** Some events are of the last minutes, for realtime (ms before now). */
  recent: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 4 },
    { arbitrary: fc.integer({ min: 0, max: 9 * 60_000 }), weight: 1 },
  ),
});
const streamArb = fc.record({
  events: fc.array(eventArb, { minLength: 1, maxLength: 120 }),
  dups: fc.array(fc.nat(), { maxLength: 60 }),
  order: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 200, maxLength: 200 }),
  batch: fc.integer({ min: 1, max: 40 }),
});

interface Ev {
  event_id: string;
  /** Not sent: which client sends it, and what the recount expects of it. */
  client: number;
  source: string | undefined;
  utm: Record<string, string>;
  type: string;
  url?: string;
  referrer?: string;
  props?: Record<string, string>;
  site_id?: string;
  path?: string;
  user_id?: string;
  visitor_id?: string;
  ad_id?: string;
  campaign_id?: string;
  ts: number;
}

function toEvent(
  prefix: string,
  i: number,
  g: {
    type: string;
    site: string;
    path: string;
    user?: string | undefined;
    visitor?: string | undefined;
    ad: string;
    campaign?: string | undefined;
    ts: number;
    client: number;
    ref: number;
    utm: number;
    plan: string;
    recent?: number | undefined;
  },
  now: number,
): Ev {
  const ref = REFERRERS[g.ref]!;
  const utm = UTMS[g.utm]!;
  const e: Ev = {
    event_id: `${prefix}-${i}`,
    client: g.client,
    source: ref.source,
    utm: utm.utm,
    type: g.type,
    ts: g.recent === undefined ? g.ts : now - g.recent,
  };
  if (g.type === 'impression' || g.type === 'click') {
    e.ad_id = `${prefix}-${g.ad}`;
    if (g.campaign) {
      e.campaign_id = `${prefix}-${g.campaign}`;
    }
  } else {
    e.site_id = `${prefix}-${g.site}`;
    e.path = g.path;
    e.url = `${HOST}/landing${utm.q}`;
    if (ref.referrer !== undefined) {
      e.referrer = ref.referrer;
    }
    if (g.type === 'signup') {
      e.props = { plan: g.plan };
    }
    if (g.user) {
      e.user_id = g.user;
    }
    if (g.visitor) {
      e.visitor_id = g.visitor;
    }
  }
  return e;
}

const inc = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);
/** What the event sent to the server holds: none of the recount's own fields. */
const wire = ({ client: _c, source: _s, utm: _u, ...e }: Ev) => e;
const isBot = (e: Ev) => 'bot' in CLIENTS[e.client]!;

/** The value of a dimension the recount expects for an (non-bot) event. */
function dimOf(e: Ev, dim: Dim): string | undefined {
  const c = CLIENTS[e.client]! as Record<string, unknown>;
  // Where a visitor came from is counted on page views only.
  if (dim === 'source') {
    return e.type === 'page_view' ? e.source : undefined;
  }
  if (dim.startsWith('utm_')) {
    return e.type === 'page_view' ? e.utm[dim] : undefined;
  }
  return c[dim] as string;
}

/** Counts per value: views, events, visitors (a set of user keys). */
interface Tally {
  views: number;
  events: number;
  visitors: Set<string>;
}
function tally(m: Map<string, Tally>, value: string, e: Ev, user: string): void {
  let t = m.get(value);
  if (!t) {
    t = { views: 0, events: 0, visitors: new Set() };
    m.set(value, t);
  }
  t.events++;
  if (e.type === 'page_view') {
    t.views++;
  }
  t.visitors.add(user);
}
const asRows = (m: Map<string, Tally>) =>
  Object.fromEntries([...m].map(([v, t]) => [v, [t.views, t.events, t.visitors.size]]));

it('reports equal a recount of the stream', async () => {
  await fc.assert(
    fc.asyncProperty(streamArb, async ({ events, dups, order, batch }) => {
      const prefix = `p${run++}`;
      const now = Date.now();
      const unique = events.map((g, i) => toEvent(prefix, i, g, now));
      const stream = [...unique, ...dups.map((d) => unique[d % unique.length]!)];
      const keyed = stream.map((e, i) => ({ e, k: order[i % order.length]! + i * 1e-9 }));
      keyed.sort((a, b) => a.k - b.k);
      const shuffled = keyed.map((x) => x.e);
      // A request comes from one client (its user agent and address).
      const batches: { client: number; events: Ev[] }[] = [];
      for (let c = 0; c < CLIENTS.length; c++) {
        const mine = shuffled.filter((e) => e.client === c);
        for (let i = 0; i < mine.length; i += batch) {
          batches.push({ client: c, events: mine.slice(i, i + batch) });
        }
      }
      // The maintenance (with the monthly path compaction, which sums d0 into its month) runs
      // mid-stream: d0's events that come after it are late events for a compacted day.
      const [, ...replies] = await Promise.all([
        s.running.aggregator.maintain(),
        ...batches.map((b) =>
          post(`${s.url}/v1/events`, b.events.map(wire), {
            'user-agent': CLIENTS[b.client]!.ua,
            'x-forwarded-for': CLIENTS[b.client]!.ip,
          }),
        ),
      ]);
      expect(replies.map((r) => r.status)).toEqual(batches.map(() => 202));
      await caughtUp(s);

      // Recount from the unique events; bots are counted nowhere but in the drops.
      const inRange = (e: Ev) => dayOf(e.ts) === d0 || dayOf(e.ts) === d1;
      for (const site of ['a', 'b']) {
        const sid = `${prefix}-${site}`;
        const all = unique.filter((e) => e.site_id === sid);
        const people = all.filter((e) => !isBot(e));
        const mine = people.filter(inRange);
        const users = new Set<string>();
        const usersByDay = new Map<string, Set<string>>();
        const paths = new Map<string, number>();
        const types = new Map<string, number>();
        const hourly = new Map<string, number>();
        const dims = new Map<Dim, Map<string, Tally>>(DIMS.map((d) => [d, new Map()]));
        const dimDays = new Map<string, Tally>();
        // Per dimension: "day|visitor" → the values that visitor had that day.
        const visitorDays = new Map<Dim, Map<string, Set<string>>>(DIMS.map((d) => [d, new Map()]));
        const pathRows = new Map<string, [number, number]>();
        const plans = new Map<string, number>();
        const keyOf = (e: Ev) =>
          e.user_id
            ? `u:${e.user_id}`
            : e.visitor_id
              ? `v:${e.visitor_id}`
              : `h:${e.client}:${dayOf(e.ts)}`;
        for (const e of mine) {
          const day = dayOf(e.ts);
          const key = keyOf(e);
          users.add(key);
          usersByDay.set(day, (usersByDay.get(day) ?? new Set()).add(key));
          inc(types, e.type);
          inc(hourly, hourOf(e.ts));
          const path = e.path!.replace(/[?#].*$/, '');
          if (e.type === 'page_view') {
            inc(paths, path);
          }
          const pr = pathRows.get(path) ?? [0, 0];
          pr[0] += e.type === 'page_view' ? 1 : 0;
          pr[1]++;
          pathRows.set(path, pr);
          if (e.props) {
            inc(plans, e.props['plan']!);
          }
          for (const dim of DIMS) {
            const v = dimOf(e, dim);
            if (v !== undefined) {
              tally(dims.get(dim)!, v, e, key);
              tally(dimDays, `${dim}|${v}|${day}`, e, key);
              const vd = visitorDays.get(dim)!;
              vd.set(`${day}|${key}`, (vd.get(`${day}|${key}`) ?? new Set()).add(v));
            }
          }
        }
        const r = await get(`${s.url}/v1/stats?site_id=${sid}&from=${d0}&to=${d1}&top=1000`);
        expect(r.body.total_views).toBe(types.get('page_view') ?? 0);
        expect(r.body.total_events).toBe(mine.length);
        expect(r.body.unique_users).toBe(users.size);
        expect(
          Object.fromEntries(
            r.body.top_paths.map((p: { path: string; views: number }) => [p.path, p.views]),
          ),
        ).toEqual(Object.fromEntries(paths));
        expect(r.body.events_by_type).toEqual(Object.fromEntries(types));
        const series = await get(
          `${s.url}/v1/stats/timeseries?site_id=${sid}&from=${d0}&to=${d1}&interval=day`,
        );
        for (const b of series.body.buckets) {
          expect(b.unique_users).toBe(usersByDay.get(b.bucket)?.size ?? 0);
        }
        const hours = await get(
          `${s.url}/v1/stats/timeseries?site_id=${sid}&from=${d0}&to=${d1}&interval=hour`,
        );
        for (const b of hours.body.buckets) {
          expect(b.events).toBe(hourly.get(b.bucket) ?? 0);
        }

        // Every breakdown, then a filter on every value seen.
        const range = `site_id=${sid}&from=${d0}&to=${d1}`;
        for (const dim of DIMS) {
          const b = await get(`${s.url}/v1/stats/breakdown?${range}&dimension=${dim}&limit=1000`);
          type Row = {
            value: string;
            views: number;
            events: number;
            visitors: number;
            share: number;
          };
          const got = b.body.rows as Row[];
          expect(
            Object.fromEntries(got.map((x) => [x.value, [x.views, x.events, x.visitors]])),
            dim,
          ).toEqual(asRows(dims.get(dim)!));
          expect(b.body.totals).toEqual({
            views: types.get('page_view') ?? 0,
            events: mine.length,
            visitors: users.size,
          });
          for (let i = 0; i < got.length; i++) {
            expect(got[i]!.share).toBeCloseTo(got[i]!.visitors / users.size, 12);
            if (i > 0) {
              const [p, x] = [got[i - 1]!, got[i]!];
              expect(
                p.visitors > x.visitors || (p.visitors === x.visitors && p.views >= x.views),
              ).toBe(true);
            }
          }
          for (const [value, t] of dims.get(dim)!) {
            const f = encodeURIComponent(`${dim}:${value}`);
            const fs = await get(`${s.url}/v1/stats?${range}&filter=${f}`);
            expect(fs.body).toMatchObject({
              total_views: t.views,
              total_events: t.events,
              unique_users: t.visitors.size,
            });
            const ft = await get(`${s.url}/v1/stats/timeseries?${range}&filter=${f}`);
            for (const x of ft.body.buckets) {
              const want = dimDays.get(`${dim}|${value}|${x.bucket}`);
              expect(x).toEqual({
                bucket: x.bucket,
                views: want?.views ?? 0,
                events: want?.events ?? 0,
                unique_users: want?.visitors.size ?? 0,
              });
            }
          }
        }
        // A filtered breakdown: per value of the next dimension, the distinct visitors among
        // the visitor-days that had the filter's value.
        for (let i = 0; i < DIMS.length; i++) {
          const [fdim, bdim] = [DIMS[i]!, DIMS[(i + 1) % DIMS.length]!];
          for (const value of dims.get(fdim)!.keys()) {
            const want = new Map<string, Set<string>>();
            for (const [dk, values] of visitorDays.get(fdim)!) {
              if (values.has(value)) {
                for (const b of visitorDays.get(bdim)!.get(dk) ?? []) {
                  want.set(b, (want.get(b) ?? new Set()).add(dk.slice(dk.indexOf('|') + 1)));
                }
              }
            }
            const f = encodeURIComponent(`${fdim}:${value}`);
            const fb = await get(
              `${s.url}/v1/stats/breakdown?${range}&dimension=${bdim}&filter=${f}&limit=1000`,
            );
            expect(
              Object.fromEntries(
                fb.body.rows.map((x: { value: string; visitors: number }) => [x.value, x.visitors]),
              ),
              `${bdim} where ${fdim}=${value}`,
            ).toEqual(Object.fromEntries([...want].map(([b, keys]) => [b, keys.size])));
            expect(fb.body.totals.visitors).toBe(dims.get(fdim)!.get(value)!.visitors.size);
          }
        }
        const pb = await get(`${s.url}/v1/stats/breakdown?${range}&dimension=path&limit=1000`);
        expect(
          Object.fromEntries(
            pb.body.rows.map((x: { value: string; views: number; events: number }) => [
              x.value,
              [x.views, x.events],
            ]),
          ),
        ).toEqual(Object.fromEntries(pathRows));
        // From the first of the month a week before d0 (a range long enough for the monthly
        // rollups): d0 comes from them (compacted), d1 from its days. The same rankings, in the
        // same order, for any length.
        const wide = `site_id=${sid}&from=${dayOf(M - 8 * DAY).slice(0, 8)}01&to=${d1}`;
        const rows = (body: { rows: { value: string; views: number; events: number }[] }) =>
          body.rows.map((x) => [x.value, x.views, x.events]);
        for (const n of [1, 2, 3, 1000]) {
          const wr = await get(`${s.url}/v1/stats?${wide}&top=${n}`);
          expect(wr.body.top_paths).toEqual(r.body.top_paths.slice(0, n));
          const wb = await get(`${s.url}/v1/stats/breakdown?${wide}&dimension=path&limit=${n}`);
          expect(rows(wb.body)).toEqual(rows(pb.body).slice(0, n));
        }
        const props = await get(
          `${s.url}/v1/stats/breakdown?${range}&dimension=prop&type=signup&key=plan`,
        );
        expect(
          Object.fromEntries(
            props.body.rows.map((x: { value: string; events: number }) => [x.value, x.events]),
          ),
        ).toEqual(Object.fromEntries(plans));

        // Bots: only in the drops, per site (every day).
        const drops = await get(`${s.url}/v1/drops?site_id=${sid}`);
        const bots = all.filter(isBot).length;
        expect(drops.body.drops).toEqual(bots > 0 ? { bot: bots } : {});

        // Realtime: the minute buckets from the reply's `from` on.
        const rt = await get(`${s.url}/v1/realtime?site_id=${sid}&top=100`);
        const from = Date.parse(rt.body.from);
        const live = people.filter((e) => e.ts >= from);
        const livePages = new Map<string, number>();
        for (const e of live) {
          if (e.type === 'page_view') {
            inc(livePages, e.path!.replace(/[?#].*$/, ''));
          }
        }
        expect(rt.body).toMatchObject({
          visitors: new Set(live.map(keyOf)).size,
          views: live.filter((e) => e.type === 'page_view').length,
          events: live.length,
        });
        expect(
          Object.fromEntries(
            rt.body.top_pages.map((p: { path: string; views: number }) => [p.path, p.views]),
          ),
        ).toEqual(Object.fromEntries(livePages));
      }
      const inDays = (e: Ev) => dayOf(e.ts) === d0 || dayOf(e.ts) === d1;
      const ads = unique.filter((e) => e.ad_id && !isBot(e) && inDays(e));
      const perMinute = new Map<string, number>();
      for (const e of ads) {
        inc(perMinute, `${minuteOf(e.ts)}|${e.ad_id}|${e.type}`);
      }
      for (const ad of ['ad1', 'ad2']) {
        const r = await get(
          `${s.url}/v1/ads/stats?from=${d0}&to=${d1}&interval=minute&group_by=ad_id&ad_id=${prefix}-${ad}&limit=10000`,
        );
        const got = new Map<string, number>();
        for (const row of r.body.rows) {
          inc(got, `${row.bucket}|${row.group}|impression`, row.impressions);
          inc(got, `${row.bucket}|${row.group}|click`, row.clicks);
        }
        for (const [k, v] of perMinute) {
          if (k.includes(`|${prefix}-${ad}|`)) {
            expect(got.get(k)).toBe(v);
          }
        }
        const totalGot = [...got.values()].reduce((a, b) => a + b, 0);
        expect(totalGot).toBe(ads.filter((e) => e.ad_id === `${prefix}-${ad}`).length);
      }
      // The monthly path rollups hold exactly the daily rows before the watermark.
      const sums = async (sql: string) =>
        (await s.running.db.query<Record<string, unknown>>(sql)).rows.map((x) =>
          Object.values(x).map(String).join('|'),
        );
      expect(
        await sums(
          'SELECT site_id, month::text, path, views, events FROM site_monthly_type_paths ORDER BY 1, 2, 3',
        ),
      ).toEqual(
        await sums(
          `SELECT site_id, date_trunc('month', day)::date::text, path,
             COALESCE(SUM(events) FILTER (WHERE type = 'page_view'), 0), SUM(events)
           FROM site_daily_type_paths WHERE day < (SELECT paths_compacted_before FROM dedup_state)
           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
        ),
      );
      expect(
        await sums(
          'SELECT site_id, month::text, path, views FROM site_monthly_paths ORDER BY 1, 2, 3',
        ),
      ).toEqual(
        await sums(
          `SELECT site_id, date_trunc('month', day)::date::text, path, SUM(views) FROM site_daily_paths
           WHERE day < (SELECT paths_compacted_before FROM dedup_state) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
        ),
      );
    }),
    { numRuns: 20, endOnFailure: true },
  );
});
