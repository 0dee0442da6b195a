/**
 * Property: for random streams with duplicates, disorder and midnight/hour boundaries, sent in
 * concurrent batches over HTTP, every figure the reports give equals a recount of the stream.
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
  s = await startServer();
});
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
});
const streamArb = fc.record({
  events: fc.array(eventArb, { minLength: 1, maxLength: 120 }),
  dups: fc.array(fc.nat(), { maxLength: 60 }),
  order: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 200, maxLength: 200 }),
  batch: fc.integer({ min: 1, max: 40 }),
});

interface Ev {
  event_id: string;
  type: string;
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
  },
): Ev {
  const e: Ev = { event_id: `${prefix}-${i}`, type: g.type, ts: g.ts };
  if (g.type === 'impression' || g.type === 'click') {
    e.ad_id = `${prefix}-${g.ad}`;
    if (g.campaign) {
      e.campaign_id = `${prefix}-${g.campaign}`;
    }
  } else {
    e.site_id = `${prefix}-${g.site}`;
    e.path = g.path;
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

it('reports equal a recount of the stream', async () => {
  await fc.assert(
    fc.asyncProperty(streamArb, async ({ events, dups, order, batch }) => {
      const prefix = `p${run++}`;
      const unique = events.map((g, i) => toEvent(prefix, i, g));
      const stream = [...unique, ...dups.map((d) => unique[d % unique.length]!)];
      const keyed = stream.map((e, i) => ({ e, k: order[i % order.length]! + i * 1e-9 }));
      keyed.sort((a, b) => a.k - b.k);
      const shuffled = keyed.map((x) => x.e);
      const batches: Ev[][] = [];
      for (let i = 0; i < shuffled.length; i += batch) {
        batches.push(shuffled.slice(i, i + batch));
      }
      const replies = await Promise.all(batches.map((b) => post(`${s.url}/v1/events`, b)));
      expect(replies.map((r) => r.status)).toEqual(batches.map(() => 202));
      await caughtUp(s);

      // Recount from the unique events.
      for (const site of ['a', 'b']) {
        const sid = `${prefix}-${site}`;
        const mine = unique.filter((e) => e.site_id === sid);
        const users = new Set<string>();
        const usersByDay = new Map<string, Set<string>>();
        const paths = new Map<string, number>();
        const types = new Map<string, number>();
        const hourly = new Map<string, number>();
        for (const e of mine) {
          const day = dayOf(e.ts);
          const key = e.user_id
            ? `u:${e.user_id}`
            : e.visitor_id
              ? `v:${e.visitor_id}`
              : `h:${day}`;
          users.add(`${key}`);
          usersByDay.set(day, (usersByDay.get(day) ?? new Set()).add(key));
          inc(types, e.type);
          inc(hourly, hourOf(e.ts));
          if (e.type === 'page_view') {
            inc(paths, e.path!.replace(/[?#].*$/, ''));
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
      }
      const ads = unique.filter((e) => e.ad_id);
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
    }),
    { numRuns: 20, endOnFailure: true },
  );
});
