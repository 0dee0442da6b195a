/** Seed 003 (NestJS: POST /api/event, GET /api/stats, GET /api/queues/health) over real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, startServer, type TestServer } from '../helpers/server.js';
import {
  DAY,
  load,
  onDay,
  OTHER_DAY,
  postJson,
  request,
  uniqueSite,
  UUID,
  UUID_V7,
} from './readme.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ MAX_BODY_BYTES: '65536' });
});
afterAll(async () => {
  await s.close();
});

const event = (body: unknown, cookie?: string) =>
  postJson(`${s.url}/api/event`, body, cookie ? { cookie: `visitor_id=${cookie}` } : {});
const stats = (siteId: string, date: string) =>
  request(`${s.url}/api/stats?siteId=${siteId}&date=${date}`);
const badRequest = (...message: string[]) => ({ statusCode: 400, message, error: 'Bad Request' });
const COOKIE =
  /^visitor_id=([0-9a-f-]{36}); Max-Age=31536000; Path=\/; Expires=[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT; HttpOnly; SameSite=Lax$/;
const VISITOR = '550e8400-e29b-41d4-a716-446655440001';
const tv = (path: string, time: string, day = DAY, siteId = 'test_site') => ({
  siteId,
  eventType: 'page_view',
  path,
  timestamp: `${day}T${time}Z`,
});

describe('seed 003 README: API usage', () => {
  it('POST /api/event → 202 {success, eventId, visitorId} and a one-year visitor_id cookie', async () => {
    const r = await event({
      siteId: 'my_website',
      eventType: 'page_view',
      path: '/about',
      timestamp: onDay('2024-11-14T15:30:00Z', OTHER_DAY),
    });
    expect(r.status).toBe(202);
    expect(r.json).toEqual({
      success: true,
      eventId: expect.stringMatching(UUID_V7),
      visitorId: expect.stringMatching(UUID),
    });
    expect(r.headers.get('set-cookie')).toMatch(COOKIE);
    expect(COOKIE.exec(r.headers.get('set-cookie')!)![1]).toBe(r.json.visitorId);
  });

  it('POST /api/event with a missing siteId and a bad timestamp → 400 in the NestJS shape', async () => {
    const r = await event({ eventType: 'page_view', path: '/about', timestamp: '14/11/2024' });
    expect(r.status).toBe(400);
    expect(r.json).toEqual(
      badRequest('siteId should not be empty', 'timestamp must be a valid ISO 8601 date string'),
    );
  });

  it('GET /api/stats → the README figures: every event type counts, top 10 paths, unique visitors', async () => {
    // With the /about view above (its own visitor): 1249 events by 319 more visitors.
    const counts: [string, number][] = [
      ['/products', 450],
      ['/home', 380],
      ['/about', 119],
      ['/contact', 95],
      ['/blog/article-1', 78],
      ['/pricing', 65],
      ['/features', 32],
      ['/login', 18],
      ['/signup', 12],
    ];
    const types = ['page_view', 'page_view', 'signup', 'scroll'];
    const paths = counts.flatMap(([p, n]) => new Array<string>(n).fill(p));
    await load(
      s.url,
      paths.map((path, i) => ({
        type: types[i % 4],
        site_id: 'my_website',
        path,
        visitor_id: `v-${i % 319}`,
        ts: `${OTHER_DAY}T09:00:00Z`,
      })),
    );
    await caughtUp(s);
    const r = await stats('my_website', OTHER_DAY);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      siteId: 'my_website',
      date: OTHER_DAY,
      totalViews: 1250,
      uniqueUsers: 320,
      topPaths: [
        { path: '/products', views: 450 },
        { path: '/home', views: 380 },
        { path: '/about', views: 120 },
        { path: '/contact', views: 95 },
        { path: '/blog/article-1', views: 78 },
        { path: '/pricing', views: 65 },
        { path: '/features', views: 32 },
        { path: '/login', views: 18 },
        { path: '/signup', views: 12 },
      ],
    });
  });

  it('GET /api/stats with no data → 404 {statusCode, message}', async () => {
    const r = await stats('my_website', '2024-11-14');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({
      statusCode: 404,
      message: 'No stats found for site my_website on 2024-11-14',
    });
  });

  it('GET /api/queues/health → real counts of the log, keyed by the queue name', async () => {
    await caughtUp(s);
    const a = s.running.aggregator.stats();
    const completed = a.counted + a.duplicates + a.late;
    const r = await request(`${s.url}/api/queues/health`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      'analytics-events': {
        waiting: 0,
        active: 0,
        completed,
        failed: 0,
        delayed: 0,
        total: completed,
      },
    });
    expect(completed).toBeGreaterThanOrEqual(1250);
    // A dead-lettered event is a failed job.
    await s.running.db.query(
      "INSERT INTO dead_letters (event_id, reason, payload) VALUES ('x', 'test', '{}')",
    );
    const after = await request(`${s.url}/api/queues/health`);
    expect(after.json['analytics-events']).toMatchObject({ failed: 1, total: completed + 1 });
  });

  it('GET /api/queues/admin is a read-only page', async () => {
    const r = await request(`${s.url}/api/queues/admin`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.text).toContain('<h1>analytics-events</h1>');
    expect(r.text).toMatch(/<th align="left">failed<\/th><td align="right">1<\/td>/);
    expect(r.text).not.toMatch(/<form|<button|method=/i);
  });
});

describe('seed 003 README: complete testing workflow', () => {
  it('Tests 1–3: three page views of one visitor → the expected result', async () => {
    // Test 1 from the browser that Test 2 shows (its cookie); Test 2's two events.
    for (const [path, time] of [
      ['/home', '10:00:00'],
      ['/products', '10:05:00'],
      ['/about', '10:10:00'],
    ] as const) {
      const r = await event(tv(path, time), VISITOR);
      expect(r.status).toBe(202);
      expect(r.json.visitorId).toBe(VISITOR);
      expect(r.headers.get('set-cookie')).toBeNull();
    }
    await caughtUp(s);
    const r = await stats('test_site', DAY);
    expect(r.json).toEqual({
      siteId: 'test_site',
      date: DAY,
      totalViews: 3,
      uniqueUsers: 1,
      topPaths: [
        { path: '/home', views: 1 },
        { path: '/products', views: 1 },
        { path: '/about', views: 1 },
      ],
    });
  });

  it('Test 4: the same eventId sent 3 times is counted once', async () => {
    const EVENT_ID = '550e8400-e29b-41d4-a716-446655440099';
    for (let i = 0; i < 3; i++) {
      const r = await event({ ...tv('/duplicate-test', '11:00:00'), eventId: EVENT_ID });
      expect(r).toMatchObject({ status: 202, json: { success: true, eventId: EVENT_ID } });
    }
    await caughtUp(s);
    const r = await stats('test_site', DAY);
    expect(r.json).toMatchObject({ totalViews: 4, uniqueUsers: 2 });
    expect(r.json.topPaths.at(-1)).toEqual({ path: '/duplicate-test', views: 1 });
  });

  it('Tests 1–2 as literally written: visitors without the cookie are new visitors', async () => {
    const site = uniqueSite('s003');
    await event(tv('/home', '10:00:00', DAY, site));
    await event(tv('/products', '10:05:00', DAY, site), VISITOR);
    await event(tv('/about', '10:10:00', DAY, site), VISITOR);
    await event(tv('/contact', '10:15:00', DAY, site));
    await caughtUp(s);
    expect((await stats(site, DAY)).json).toMatchObject({ totalViews: 4, uniqueUsers: 3 });
  });
});
