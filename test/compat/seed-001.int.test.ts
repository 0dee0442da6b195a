/** Seed 001 (POST /api/ingestion/event, GET /api/reporting/stats, GET /api/healthcheck) over real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, startServer, type TestServer } from '../helpers/server.js';
import { DAY, load, request, times, uniqueSite } from './readme.js';
import { fail, seed001 } from './seed-clients.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

const { ingest, stats } = seed001(() => s.url);
// The README's curl `-d` body, byte for byte.
const EXAMPLE = `{
    "site_id": "site-abc-123",
    "event_type": "page_view",
    "path": "/pricing",
    "user_id": "user-xyz-789",
    "timestamp": "2025-11-12T19:30:01Z"
}`;
/** The day of the README's examples, and another day for its all-time figures. */
const README_DAY = '2025-11-12';
const EARLIER_DAY = '2025-10-01';

describe('seed 001 README examples, sent as written', () => {
  it('POST /api/ingestion/event → 202 {"status":"queued"}, counted on 2025-11-12', async () => {
    const r = await ingest(EXAMPLE);
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ status: 'queued' });
    await caughtUp(s);
    const day = await stats('site_id=site-abc-123&date=2025-11-12');
    expect(day.status, day.text).toBe(200);
    expect(day.json).toEqual({
      status: 'success',
      data: {
        site_id: 'site-abc-123',
        date: '2025-11-12',
        total_views: 1,
        unique_users: 1,
        top_paths: [{ path: '/pricing', views: 1 }],
      },
    });
  });

  it('site_id missing → 400 with the validation error body', async () => {
    const { site_id: _, ...rest } = JSON.parse(EXAMPLE) as Record<string, unknown>;
    const r = await ingest(rest);
    expect(r.status).toBe(400);
    expect(r.json).toEqual(fail(['body.site_id', 'site_id is required']));
  });

  it('Example 1 (date=2025-11-12) and Example 2 (all time) → the README figures', async () => {
    // With the example above: 1449 more page views that day (700 /pricing with the example's,
    // 500 /blog/post-1, 250 /) by 212 users, and 8800 on an earlier day (3500 /pricing, 2850 /,
    // 1500 /blog, 950 /docs) by 1842.
    const users = [
      'user-xyz-789',
      ...times(1841, (i) => ({ id: `user-${i + 1}` })).map((u) => String(u.id)),
    ];
    const pv = (day: string, path: string, user: string) => ({
      type: 'page_view',
      site_id: 'site-abc-123',
      path,
      user_id: user,
      ts: `${day}T12:00:00Z`,
    });
    const paths = (counts: [string, number][]) =>
      counts.flatMap(([path, n]) => new Array<string>(n).fill(path));
    const day1 = paths([
      ['/pricing', 699],
      ['/blog/post-1', 500],
      ['/', 250],
    ]);
    const day2 = paths([
      ['/pricing', 3500],
      ['/', 2850],
      ['/blog', 1500],
      ['/docs', 950],
    ]);
    await load(s.url, [
      ...day1.map((p, i) => pv(README_DAY, p, users[i % 212]!)),
      ...day2.map((p, i) => pv(EARLIER_DAY, p, users[i % 1842]!)),
    ]);
    await caughtUp(s);

    const byDay = await stats('site_id=site-abc-123&date=2025-11-12');
    expect(byDay.status).toBe(200);
    expect(byDay.json).toEqual({
      status: 'success',
      data: {
        site_id: 'site-abc-123',
        date: '2025-11-12',
        total_views: 1450,
        unique_users: 212,
        top_paths: [
          { path: '/pricing', views: 700 },
          { path: '/blog/post-1', views: 500 },
          { path: '/', views: 250 },
        ],
      },
    });
    const allTime = await stats('site_id=site-abc-123');
    expect(allTime.status).toBe(200);
    expect(allTime.json).toEqual({
      status: 'success',
      data: {
        site_id: 'site-abc-123',
        date: 'all-time',
        total_views: 10250,
        unique_users: 1842,
        top_paths: [
          { path: '/pricing', views: 4200 },
          { path: '/', views: 3100 },
          { path: '/blog', views: 1500 },
        ],
      },
    });
  });

  it('no data → 404 {"status":"fail","message":…}', async () => {
    const r = await stats('site_id=no-such-site&date=2025-11-12');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({
      status: 'fail',
      message: 'No analytics data found for the specified criteria.',
    });
  });

  it('GET /api/healthcheck', async () => {
    const r = await request(`${s.url}/api/healthcheck`);
    expect(r).toMatchObject({
      status: 200,
      json: { message: 'API is running, healthy, and ready!' },
    });
  });
});

describe('seed 001 statistics semantics', () => {
  it('count page views only (404 for a site with only other events), ties in first-seen order', async () => {
    const site = uniqueSite('s001');
    const ev = (event_type: string, path: string, time: string, extra = {}) =>
      ingest({ site_id: site, event_type, path, timestamp: `${DAY}T${time}Z`, ...extra });
    expect((await ev('click', '/x', '09:00:00', { user_id: 'u0' })).status).toBe(202);
    await caughtUp(s);
    expect((await stats(`site_id=${site}`)).status).toBe(404);
    // "Page View" is the canonical page_view; a signup is not a view.
    for (const [type, path, time] of [
      ['page_view', '/b', '10:00:00'],
      ['Page View', '/a', '10:01:00'],
      ['signup', '/a', '10:02:00'],
      ['page_view', '/c', '10:03:00'],
      ['page_view', '/d', '10:04:00'],
    ]) {
      expect((await ev(type!, path!, time!, { user_id: 'u1' })).status).toBe(202);
    }
    await caughtUp(s);
    const r = await stats(`site_id=${site}&date=${DAY}`);
    expect(r.json.data).toEqual({
      site_id: site,
      date: DAY,
      total_views: 4,
      // Users are Tally's: distinct over every event of the site (u0 clicked, u1 viewed).
      unique_users: 2,
      top_paths: [
        { path: '/b', views: 1 },
        { path: '/a', views: 1 },
        { path: '/c', views: 1 },
      ],
    });
  });

  it('an optional event_id deduplicates; without one, each request is its own event', async () => {
    const site = uniqueSite('s001-idem');
    const body = {
      site_id: site,
      event_type: 'page_view',
      path: '/',
      timestamp: `${DAY}T08:00:00+02:00`,
    };
    for (let i = 0; i < 3; i++) {
      expect((await ingest({ ...body, event_id: 'retry-1' })).status).toBe(202);
    }
    expect((await ingest(body)).status).toBe(202);
    expect((await ingest(body)).status).toBe(202);
    await caughtUp(s);
    expect((await stats(`site_id=${site}&date=${DAY}`)).json.data.total_views).toBe(3);
  });
});
