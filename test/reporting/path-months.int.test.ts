/**
 * Path rankings from the monthly rollups (migrations/0014), through real HTTP, on the embedded
 * database and on a PostgreSQL server. Real: the server, its log, the aggregator, the
 * compaction (run by the aggregator's maintenance), the retention purge. Random events with
 * many ties over four months; the compaction runs between and during the sends, late events
 * for compacted months keep coming, and every ranking equals a recount of what was sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPathMonths } from '../../src/aggregate/path-months.js';
import { createLogger } from '../../src/logger.js';
import { rankFromMonths } from '../../src/reporting/reports/path-ranking.js';
import type { CanonicalEvent } from '../../src/events/event.js';
import type { Queryable } from '../../src/storage/db.js';
import { applyRollups } from '../../src/storage/rollups.repo.js';
import { caughtUp, get, post, startServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { requireService } from '../helpers/services.js';
import { prng } from '../../scripts/demo/traffic.js';

const DAY = 86_400_000;
const today = Date.UTC(
  new Date().getUTCFullYear(),
  new Date().getUTCMonth(),
  new Date().getUTCDate(),
);
const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
const SITE = 'months';
const SPAN = 120;

interface Ev {
  event_id: string;
  site_id: string;
  type: string;
  path: string;
  ts: number;
}

/** `n` events over the last SPAN days (or `days` ago), paths skewed so that counts tie often. */
function events(seed: number, n: number, prefix: string, days?: [number, number]): Ev[] {
  const r = prng(seed);
  const [lo, hi] = days ?? [1, SPAN];
  return Array.from({ length: n }, (_, i) => {
    const k = Math.floor(60 * r() * r());
    const ago = lo + Math.floor(r() * (hi - lo + 1));
    return {
      event_id: `${prefix}-${i}`,
      site_id: SITE,
      type: r() < 0.8 ? 'page_view' : 'signup',
      path: `/p${String(k).padStart(2, '0')}`,
      ts: today - ago * DAY + Math.floor(r() * DAY),
    };
  });
}

async function send(s: TestServer, list: Ev[]): Promise<void> {
  for (let i = 0; i < list.length; i += 500) {
    const r = await post(`${s.url}/v1/events`, list.slice(i, i + 500));
    expect(r.status).toBe(202);
  }
}

/** The recount: [path, views] by views then path, and [path, views, events] as the breakdown. */
function recount(sent: Ev[], from: string, to: string, site = SITE) {
  const per = new Map<string, [number, number]>();
  for (const e of sent) {
    const day = iso(e.ts);
    if (e.site_id === site && day >= from && day <= to) {
      const c = per.get(e.path) ?? [0, 0];
      c[0] += e.type === 'page_view' ? 1 : 0;
      c[1] += 1;
      per.set(e.path, c);
    }
  }
  const all = [...per].map(([path, [views, n]]) => ({ path, views, events: n }));
  const byPath = (a: { path: string }, b: { path: string }) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  const top = all
    .filter((p) => p.views > 0)
    .sort((a, b) => b.views - a.views || byPath(a, b))
    .map((p) => [p.path, p.views]);
  const breakdown = all
    .sort((a, b) => b.views - a.views || b.events - a.events || byPath(a, b))
    .map((p) => [p.path, p.views, p.events]);
  return { top, breakdown };
}

/** The monthly rows equal the daily rows summed per month, over the days before the watermark. */
async function expectMonthsMatchDays(db: Queryable): Promise<void> {
  const w = (
    await db.query<{ w: string | null }>(
      'SELECT paths_compacted_before::text AS w FROM dedup_state',
    )
  ).rows[0]!.w;
  const rows = async (sql: string) =>
    (await db.query<Record<string, unknown>>(sql, [w ?? '1970-01-01'])).rows.map((r) =>
      Object.values(r).map(String).join('|'),
    );
  expect(
    await rows(
      'SELECT site_id, month::text, path, views FROM site_monthly_paths WHERE $1::date IS NOT NULL ORDER BY 1, 2, 3',
    ),
  ).toEqual(
    await rows(
      "SELECT site_id, date_trunc('month', day)::date::text, path, SUM(views) FROM site_daily_paths WHERE day < $1::date GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    ),
  );
  expect(
    await rows(
      'SELECT site_id, month::text, path, views, events FROM site_monthly_type_paths WHERE $1::date IS NOT NULL ORDER BY 1, 2, 3',
    ),
  ).toEqual(
    await rows(
      `SELECT site_id, date_trunc('month', day)::date::text, path,
         COALESCE(SUM(events) FILTER (WHERE type = 'page_view'), 0), SUM(events)
       FROM site_daily_type_paths WHERE day < $1::date GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    ),
  );
}

const pgUp = requireService(
  'PostgreSQL',
  await pgAvailable(),
  'it runs on 127.0.0.1:5432 on this machine',
);
const databases: [string, boolean][] = [
  ['embedded', true],
  ['PostgreSQL', pgUp],
];

describe.each(databases)('monthly path rankings on %s', (name, available) => {
  let s: TestServer;
  let drop: (() => Promise<void>) | undefined;
  const sent: Ev[] = [];
  const db = () => s.running.db;
  const maintain = () => s.running.aggregator.maintain();

  beforeAll(async () => {
    if (!available) {
      return;
    }
    // Per-user rows older than 30 days are purged by the maintenance: the rankings must not
    // notice (path rollups are never purged).
    const env = { USER_ROWS_RETENTION_DAYS: '30' };
    if (name === 'PostgreSQL') {
      const t = await createTestDatabase();
      drop = t.drop;
      s = await startServer({ ...env, DATABASE_URL: t.url });
    } else {
      s = await startServer(env);
    }
  }, 60_000);

  afterAll(async () => {
    await s?.close();
    await drop?.();
  });

  it.runIf(available)(
    'compacts the days before yesterday, and late events join their months',
    async () => {
      const first = events(1, 3000, 'a');
      await send(s, first);
      sent.push(...first);
      await caughtUp(s);
      await maintain();
      const w = await db().query<{ w: string }>(
        'SELECT paths_compacted_before::text AS w FROM dedup_state',
      );
      expect(w.rows[0]!.w).toBe(iso(today - DAY));
      await expectMonthsMatchDays(db());

      // Late events for compacted months (and a few recent ones), while the compaction runs.
      const late = events(2, 2500, 'b', [2, SPAN + 5]);
      await Promise.all([send(s, late), maintain(), maintain()]);
      sent.push(...late);
      await caughtUp(s);
      await maintain();
      await expectMonthsMatchDays(db());
    },
  );

  it.runIf(available)(
    'every ranking equals a recount, from months or from days',
    async () => {
      const ranges: [number, number][] = [
        [SPAN + 5, 1],
        [SPAN, 2],
        [100, 1],
        [75, 20],
        [40, 3],
        [3, 1],
        [SPAN + 5, SPAN + 5],
      ];
      // Whole calendar months too.
      for (let m = 1; m <= 3; m++) {
        const d = new Date(today);
        const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - m, 1);
        const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - m + 1, 1) - DAY;
        ranges.push([(today - start) / DAY, (today - end) / DAY]);
      }
      let fromMonths = 0;
      for (const [a, b] of ranges) {
        const from = iso(today - a * DAY);
        const to = iso(today - b * DAY);
        const want = recount(sent, from, to);
        for (const n of [1, 2, 3, 5, 10, 25, 1000]) {
          const q = `site_id=${SITE}&from=${from}&to=${to}`;
          const st = await get(`${s.url}/v1/stats?${q}&top=${n}`);
          expect(st.status).toBe(200);
          expect(
            st.body.top_paths.map((p: { path: string; views: number }) => [p.path, p.views]),
            `top ${n} of ${from} … ${to}`,
          ).toEqual(want.top.slice(0, n));
          const bd = await get(`${s.url}/v1/stats/breakdown?${q}&dimension=path&limit=${n}`);
          expect(bd.status).toBe(200);
          expect(
            bd.body.rows.map((r: { value: string; views: number; events: number }) => [
              r.value,
              r.views,
              r.events,
            ]),
            `breakdown ${n} of ${from} … ${to}`,
          ).toEqual(want.breakdown.slice(0, n));
          const direct = await rankFromMonths(
            db(),
            {
              tag: 'test',
              daily: (where) =>
                `SELECT path, views AS v, views AS e FROM site_daily_paths WHERE site_id = $1 AND ${where}`,
              monthly: 'site_monthly_paths',
              monthlyViews: 'views',
              monthlyEvents: 'views',
              order: 'views DESC, path ASC',
              present: 'views > 0',
            },
            SITE,
            from,
            to,
            n,
          );
          if (direct) {
            fromMonths++;
            expect(direct.map((p) => [p.path, p.views])).toEqual(want.top.slice(0, n));
          }
        }
      }
      // The long ranges were answered from the months (the threshold settled), not the days.
      expect(fromMonths).toBeGreaterThan(20);
    },
    120_000,
  );

  it.runIf(available)('a path second in every month but first overall is found', async () => {
    // In each of the last four whole months, 40 paths of that month only with 10 views each,
    // and one path with 8 views in every month: in no month's top 32, yet first with 32.
    const site = 'months-adv';
    const adv: Ev[] = [];
    const d = new Date(today);
    const starts = [4, 3, 2, 1].map((m) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - m, 1));
    starts.forEach((start, k) => {
      const at = (i: number) => start + 9 * DAY + (i % 5) * DAY + 3_600_000;
      for (let j = 0; j < 40; j++) {
        for (let i = 0; i < 10; i++) {
          adv.push({
            event_id: `adv-${k}-${j}-${i}`,
            site_id: site,
            type: 'page_view',
            path: `/m${k}-${j}`,
            ts: at(i),
          });
        }
      }
      for (let i = 0; i < 8; i++) {
        adv.push({
          event_id: `adv-${k}-s-${i}`,
          site_id: site,
          type: 'page_view',
          path: '/steady',
          ts: at(i),
        });
      }
    });
    await send(s, adv);
    sent.push(...adv);
    await caughtUp(s);
    await maintain();
    const from = iso(starts[0]!);
    const to = iso(today - DAY);
    const want = recount(sent, from, to, site);
    expect(want.top[0]).toEqual(['/steady', 32]);
    for (const n of [1, 3, 10, 200]) {
      const st = await get(`${s.url}/v1/stats?site_id=${site}&from=${from}&to=${to}&top=${n}`);
      expect(
        st.body.top_paths.map((p: { path: string; views: number }) => [p.path, p.views]),
      ).toEqual(want.top.slice(0, n));
      const bd = await get(
        `${s.url}/v1/stats/breakdown?site_id=${site}&from=${from}&to=${to}&dimension=path&limit=${n}`,
      );
      expect(
        bd.body.rows.map((r: { value: string; views: number; events: number }) => [
          r.value,
          r.views,
          r.events,
        ]),
      ).toEqual(want.breakdown.slice(0, n));
    }
  });

  it.runIf(available)(
    'an import of old days (rollups without the batch lock) joins its months',
    async () => {
      // What `tally import` does without dedup: applyRollups, user rows on a second connection
      // on a server; it takes the watermark's share lock itself.
      const old = events(4, 800, 'imp', [20, SPAN]);
      const imported = old.map((e): CanonicalEvent => ({ ...e, received_at: Date.now() }));
      await db().transaction((tx) =>
        applyRollups(tx, imported, undefined, name === 'PostgreSQL' ? db() : undefined),
      );
      sent.push(...old);
      await expectMonthsMatchDays(db());
      const from = iso(today - (SPAN + 5) * DAY);
      const to = iso(today - DAY);
      const st = await get(`${s.url}/v1/stats?site_id=${SITE}&from=${from}&to=${to}&top=5`);
      expect(
        st.body.top_paths.map((p: { path: string; views: number }) => [p.path, p.views]),
      ).toEqual(recount(sent, from, to).top.slice(0, 5));
    },
  );

  it.runIf(available)(
    'two compactions at once, from nothing, sum each day once',
    async () => {
      await db().query('UPDATE dedup_state SET paths_compacted_before = NULL');
      await db().query('DELETE FROM site_monthly_paths');
      await db().query('DELETE FROM site_monthly_type_paths');
      const logger = createLogger({ level: 'silent' });
      const a = createPathMonths(db(), logger);
      const b = createPathMonths(db(), logger);
      await Promise.all([a(), b(), send(s, events(3, 500, 'c', [2, 90]))]);
      sent.push(...events(3, 500, 'c', [2, 90]));
      await caughtUp(s);
      await a();
      await expectMonthsMatchDays(db());
      const from = iso(today - (SPAN + 5) * DAY);
      const to = iso(today - DAY);
      const st = await get(`${s.url}/v1/stats?site_id=${SITE}&from=${from}&to=${to}&top=7`);
      expect(
        st.body.top_paths.map((p: { path: string; views: number }) => [p.path, p.views]),
      ).toEqual(recount(sent, from, to).top.slice(0, 7));
    },
    60_000,
  );
});
