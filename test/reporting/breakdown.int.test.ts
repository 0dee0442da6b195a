/**
 * Breakdowns, filters, bots and realtime through real HTTP, on the embedded database and on a
 * PostgreSQL server. Real: the server, its embedded log, the aggregator, the database. The
 * expected figures are counted by hand from the events below; what each user agent is (browser,
 * OS, device) is stated literally, not asked of the code under test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, get, post, startServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { requireService } from '../helpers/services.js';

const DAY = 86_400_000;
const base = Date.UTC(
  new Date().getUTCFullYear(),
  new Date().getUTCMonth(),
  new Date().getUTCDate(),
);
const d0 = new Date(base - 2 * DAY).toISOString().slice(0, 10);
const d1 = new Date(base - DAY).toISOString().slice(0, 10);
const at = (day: string, hhmm: string) => `${day}T${hhmm}:00Z`;

const UA = {
  chrome:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  iphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  bot: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
};
const HOST = 'https://dim.example';

interface Ev {
  type: string;
  user_id: string;
  path?: string;
  url?: string;
  referrer?: string;
  props?: Record<string, string>;
  ts: string;
}
/** [user agent, event] in the order sent; the numbers are those the expectations cite. */
const EVENTS: [keyof typeof UA, Ev][] = [
  // 1: u1 lands from Google on a spring campaign link, 2: navigates, 3: signs up (pro).
  [
    'chrome',
    {
      type: 'page_view',
      user_id: 'u1',
      path: '/',
      url: `${HOST}/?utm_source=news&utm_campaign=spring`,
      referrer: 'https://www.google.com/',
      ts: at(d1, '09:00'),
    },
  ],
  [
    'chrome',
    {
      type: 'page_view',
      user_id: 'u1',
      path: '/a',
      url: `${HOST}/a`,
      referrer: `${HOST}/`,
      ts: at(d1, '09:01'),
    },
  ],
  [
    'chrome',
    {
      type: 'signup',
      user_id: 'u1',
      path: '/a',
      url: `${HOST}/a`,
      referrer: `${HOST}/a`,
      props: { plan: 'pro' },
      ts: at(d1, '09:02'),
    },
  ],
  // 4: u2 direct on a spring link.
  [
    'chrome',
    {
      type: 'page_view',
      user_id: 'u2',
      path: '/',
      url: `${HOST}/?utm_campaign=spring`,
      ts: at(d1, '10:00'),
    },
  ],
  // 5: u3 from a blog on an autumn link, 6: navigates.
  [
    'firefox',
    {
      type: 'page_view',
      user_id: 'u3',
      path: '/a',
      url: `${HOST}/a?utm_campaign=autumn`,
      referrer: 'https://blog.example.org/post',
      ts: at(d1, '11:00'),
    },
  ],
  [
    'firefox',
    {
      type: 'page_view',
      user_id: 'u3',
      path: '/b',
      url: `${HOST}/b`,
      referrer: `${HOST}/a`,
      ts: at(d1, '11:01'),
    },
  ],
  // 7: u4 direct on a phone, 8: signs up (free).
  ['iphone', { type: 'page_view', user_id: 'u4', path: '/', url: `${HOST}/`, ts: at(d1, '12:00') }],
  [
    'iphone',
    {
      type: 'signup',
      user_id: 'u4',
      url: `${HOST}/`,
      referrer: `${HOST}/`,
      props: { plan: 'free' },
      ts: at(d1, '12:01'),
    },
  ],
  // 9, 10: a crawler, counted nowhere but the drop ledger.
  ['bot', { type: 'page_view', user_id: 'b1', path: '/', url: `${HOST}/`, ts: at(d1, '13:00') }],
  ['bot', { type: 'page_view', user_id: 'b1', path: '/a', url: `${HOST}/a`, ts: at(d1, '13:01') }],
  // 11: u1 the day before, direct on a spring link.
  [
    'chrome',
    {
      type: 'page_view',
      user_id: 'u1',
      path: '/',
      url: `${HOST}/?utm_campaign=spring`,
      ts: at(d0, '20:00'),
    },
  ],
];

const pgUp = requireService(
  'PostgreSQL',
  await pgAvailable(),
  'it runs on 127.0.0.1:5432 on this machine',
);
const databases: [string, boolean][] = [
  ['embedded', true],
  ['PostgreSQL', pgUp],
];

describe.each(databases)('breakdowns on %s', (name, available) => {
  let s: TestServer;
  let drop: (() => Promise<void>) | undefined;
  const q = (path: string) => get(`${s.url}${path}`);
  const rows = (body: { rows: { value: string; views: number; visitors?: number }[] }) =>
    body.rows.map((r) => [r.value, r.views, r.visitors]);

  beforeAll(async () => {
    if (!available) {
      return;
    }
    if (name === 'PostgreSQL') {
      const db = await createTestDatabase();
      drop = db.drop;
      s = await startServer({ DATABASE_URL: db.url });
    } else {
      s = await startServer();
    }
    for (const [ua, e] of EVENTS) {
      const r = await post(
        `${s.url}/v1/events`,
        { ...e, site_id: 'dim' },
        { 'user-agent': UA[ua] },
      );
      expect(r.status).toBe(202);
    }
    await caughtUp(s);
  });
  afterAll(async () => {
    await s?.close();
    await drop?.();
  });

  it.runIf(available)('per browser, OS and device: visitors, views, share, totals', async () => {
    const r = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=browser`);
    expect(r.status).toBe(200);
    expect(r.body.totals).toEqual({ views: 6, events: 8, visitors: 4 });
    expect(r.body.rows[0]).toEqual({
      value: 'Chrome',
      views: 3,
      events: 4,
      visitors: 2,
      share: 0.5,
    });
    expect(r.body.rows[1]).toEqual({
      value: 'Firefox',
      views: 2,
      events: 2,
      visitors: 1,
      share: 0.25,
    });
    expect(r.body.rows[2]).toMatchObject({ views: 1, events: 2, visitors: 1 });
    expect(r.body.rows[2].value).toMatch(/Safari/);
    const os = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=os`);
    expect(rows(os.body)).toEqual([
      ['Windows', 3, 2],
      ['Linux', 2, 1],
      ['iOS', 1, 1],
    ]);
    const device = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=device`);
    expect(rows(device.body)).toEqual([
      ['desktop', 5, 3],
      ['mobile', 1, 1],
    ]);
    const country = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=country`);
    expect(rows(country.body)).toEqual([['(unknown)', 6, 4]]);
  });

  it.runIf(available)('per source and UTM tag; internal navigation under no source', async () => {
    const src = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=source`);
    expect(rows(src.body)).toEqual([
      ['(direct)', 2, 2],
      ['Google', 1, 1],
      ['blog.example.org', 1, 1],
    ]);
    const campaign = await q(
      `/v1/stats/breakdown?site_id=dim&from=${d0}&to=${d1}&dimension=utm_campaign`,
    );
    // u1 on both days is one visitor over the range.
    expect(rows(campaign.body)).toEqual([
      ['spring', 3, 2],
      ['autumn', 1, 1],
    ]);
    expect(campaign.body.rows[0].share).toBe(2 / 4);
    const utmSource = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=utm_source`);
    expect(rows(utmSource.body)).toEqual([['news', 1, 1]]);
    const none = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=utm_term`);
    expect(none.body.rows).toEqual([]);
  });

  it.runIf(available)('per path (views and events) and per custom property', async () => {
    const paths = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=path`);
    expect(paths.body.rows).toEqual([
      // 8 has no path: the edge takes it from its url.
      { value: '/', views: 3, events: 4, share: 0.5 },
      { value: '/a', views: 2, events: 3, share: 2 / 6 },
      { value: '/b', views: 1, events: 1, share: 1 / 6 },
    ]);
    const plans = await q(
      `/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=prop&type=signup&key=plan`,
    );
    expect(plans.body).toMatchObject({ dimension: 'prop', type: 'signup', key: 'plan' });
    expect(plans.body.rows).toEqual([
      { value: 'free', views: 0, events: 1, share: 0.5 },
      { value: 'pro', views: 0, events: 1, share: 0.5 },
    ]);
  });

  it.runIf(available)('limit keeps the top rows', async () => {
    const r = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=browser&limit=1`);
    expect(rows(r.body)).toEqual([['Chrome', 3, 2]]);
  });

  it.runIf(available)('filters /v1/stats and /v1/stats/timeseries by one value', async () => {
    const spring = await q(`/v1/stats?site_id=dim&from=${d0}&to=${d1}&filter=utm_campaign:spring`);
    expect(spring.body).toEqual({
      site_id: 'dim',
      from: d0,
      to: d1,
      filter: { dimension: 'utm_campaign', value: 'spring' },
      total_views: 3,
      total_events: 3,
      unique_users: 2,
    });
    const chrome = await q(`/v1/stats?site_id=dim&from=${d0}&to=${d1}&filter=browser:Chrome`);
    expect(chrome.body).toMatchObject({ total_views: 4, total_events: 5, unique_users: 2 });
    const path = await q(`/v1/stats?site_id=dim&date=${d1}&filter=path:/a`);
    expect(path.body).toMatchObject({ total_views: 2, total_events: 3 });
    expect(path.body.unique_users).toBeUndefined();
    const series = await q(
      `/v1/stats/timeseries?site_id=dim&from=${d0}&to=${d1}&filter=utm_campaign:spring`,
    );
    expect(series.body.buckets).toEqual([
      { bucket: d0, views: 1, events: 1, unique_users: 1 },
      { bucket: d1, views: 2, events: 2, unique_users: 2 },
    ]);
    const unfiltered = await q(`/v1/stats?site_id=dim&date=${d1}`);
    expect(unfiltered.body).toMatchObject({ total_views: 6, total_events: 8, unique_users: 4 });
  });

  it.runIf(available)(
    'a filtered breakdown: the visitors of one value, per value of another',
    async () => {
      const byBrowser = await q(
        `/v1/stats/breakdown?site_id=dim&from=${d0}&to=${d1}&dimension=browser&filter=utm_campaign:spring`,
      );
      expect(byBrowser.status).toBe(200);
      // Spring: u1 (both days) and u2, both on Chrome; one visitor each over the range.
      expect(byBrowser.body).toEqual({
        site_id: 'dim',
        from: d0,
        to: d1,
        dimension: 'browser',
        filter: { dimension: 'utm_campaign', value: 'spring' },
        totals: { views: 3, events: 3, visitors: 2 },
        rows: [{ value: 'Chrome', visitors: 2, share: 1 }],
      });
      // Chrome visitor-days: u1 from Google and direct (the day before), u2 direct.
      const bySource = await q(
        `/v1/stats/breakdown?site_id=dim&from=${d0}&to=${d1}&dimension=source&filter=browser:Chrome`,
      );
      expect(bySource.body.totals).toEqual({ views: 4, events: 5, visitors: 2 });
      expect(bySource.body.rows).toEqual([
        { value: '(direct)', visitors: 2, share: 1 },
        { value: 'Google', visitors: 1, share: 0.5 },
      ]);
      const byOs = await q(
        `/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=os&filter=device:desktop&limit=1`,
      );
      expect(byOs.body.totals).toEqual({ views: 5, events: 6, visitors: 3 });
      expect(byOs.body.rows).toEqual([{ value: 'Windows', visitors: 2, share: 2 / 3 }]);
      const none = await q(
        `/v1/stats/breakdown?site_id=dim&date=${d1}&dimension=browser&filter=utm_campaign:nope`,
      );
      expect(none.body).toMatchObject({ totals: { views: 0, events: 0, visitors: 0 }, rows: [] });
    },
  );

  it.runIf(available)('bots: in the drop ledger per site, in no report', async () => {
    const site = await q(`/v1/drops?site_id=dim&from=${d1}&to=${d1}`);
    expect(site.body).toEqual({ drops: { bot: 2 }, total: 2 });
    const all = await q('/v1/drops');
    expect(all.body.drops.bot).toBe(2);
    const r = await q(`/v1/stats?site_id=dim&date=${d1}&top=10`);
    expect(r.body.top_paths).toEqual([
      { path: '/', views: 3 },
      { path: '/a', views: 2 },
      { path: '/b', views: 1 },
    ]);
  });

  it.runIf(available)('realtime: visitors and top pages within a second', async () => {
    const now = Date.now();
    const sent = [
      ['chrome', { user_id: 'r1', path: '/', ts: now }],
      ['chrome', { user_id: 'r2', path: '/x', ts: now }],
      ['firefox', { user_id: 'r1', path: '/x', ts: now - 30_000 }],
      ['bot', { user_id: 'rb', path: '/x', ts: now }],
      ['chrome', { user_id: 'r3', path: '/old', ts: now - 20 * 60_000 }],
    ] as const;
    for (const [ua, e] of sent) {
      const r = await post(
        `${s.url}/v1/events`,
        { type: 'page_view', site_id: 'rt', ...e },
        { 'user-agent': UA[ua] },
      );
      expect(r.status).toBe(202);
    }
    const t0 = Date.now();
    let body: { visitors: number; views: number; top_pages: unknown[] } | undefined;
    while (Date.now() - t0 < 1000) {
      body = (await q('/v1/realtime?site_id=rt')).body;
      if (body?.views === 3) {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(body).toMatchObject({
      site_id: 'rt',
      visitors: 2,
      views: 3,
      events: 3,
      top_pages: [
        { path: '/x', views: 2 },
        { path: '/', views: 1 },
      ],
    });
  });

  it.runIf(available).each([
    ['dimension=nope', 'dimension'],
    ['dimension=browser&limit=0', 'limit'],
    ['dimension=browser&limit=1001', 'limit'],
    ['dimension=browser&limit=x', 'limit'],
    ['dimension=prop&type=signup', 'key'],
    ['dimension=prop&key=plan', 'type'],
    ['dimension=browser&key=plan', 'key'],
    ['dimension=path&filter=browser:Chrome', 'filter'],
    ['dimension=prop&type=signup&key=plan&filter=browser:Chrome', 'filter'],
    ['dimension=browser&filter=path:/', 'filter'],
    ['dimension=browser&filter=nope:x', 'filter'],
  ])('breakdown 400 naming the parameter for %s', async (qs, field) => {
    const r = await q(`/v1/stats/breakdown?site_id=dim&date=${d1}&${qs}`);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_PARAMETER');
    expect(r.body.error.details[0].field).toBe(field);
  });

  it.runIf(available).each([
    ['/v1/stats/breakdown?site_id=dim&date=2025-02-30&dimension=os', 'date'],
    ['/v1/stats/breakdown?site_id=dim&from=2025-01-02&to=2025-01-01&dimension=os', 'from'],
    ['/v1/stats/breakdown?date=2025-01-01&dimension=os', 'site_id'],
    ['/v1/stats/breakdown?site_id=dim&date=2025-01-01', 'dimension'],
    [`/v1/stats?site_id=dim&date=${d1}&filter=nope:x`, 'filter'],
    [`/v1/stats?site_id=dim&date=${d1}&filter=browser`, 'filter'],
    [`/v1/stats?site_id=dim&date=${d1}&filter=browser:`, 'filter'],
    [`/v1/stats/timeseries?site_id=dim&from=${d0}&to=${d1}&filter=os:x&interval=hour`, 'interval'],
    ['/v1/realtime', 'site_id'],
    ['/v1/realtime?site_id=rt&top=0', 'top'],
  ])('400 naming the parameter for %s', async (path, field) => {
    const r = await q(path);
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].field).toBe(field);
  });
});
