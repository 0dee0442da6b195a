/**
 * Seed 003 (NestJS: POST /api/event, GET /api/stats, GET /api/queues/health) over real HTTP: the
 * README's API usage and installation examples as written, counted on their date (2024-11-14).
 * Its "Complete Testing Workflow" is in seed-003-workflow.test.ts (it needs a clean test_site).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, startServer, type TestServer } from '../helpers/server.js';
import { load, request, UUID, UUID_V7 } from './readme.js';
import { badRequest, COOKIE, seed003 } from './seed-clients.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ MAX_BODY_BYTES: '65536' });
});
afterAll(async () => {
  await s.close();
});

const { event, stats } = seed003(() => s.url);
// The README's requests, byte for byte (the curl `-d '…'` bodies and the "Request Body" block).
const TEST_THE_INSTALLATION = `{
    "siteId": "test_site",
    "eventType": "page_view",
    "path": "/",
    "timestamp": "2024-11-14T10:00:00Z"
  }`;
const REQUEST_BODY = `{
  "siteId": "site_abc123",
  "eventType": "page_view",
  "path": "/products/shoes",
  "timestamp": "2024-11-14T10:30:00Z",
  "eventId": "550e8400-e29b-41d4-a716-446655440000"
}`;
const EXAMPLE_CURL = `{
    "siteId": "my_website",
    "eventType": "page_view",
    "path": "/about",
    "timestamp": "2024-11-14T15:30:00Z"
  }`;

describe('seed 003 README: API usage, sent as written', () => {
  // First: the README's 404 is for my_website on 2024-11-14, which the examples below fill.
  it('GET /api/stats?siteId=my_website&date=2024-11-14 with no data → 404 {statusCode, message}', async () => {
    const r = await request(`${s.url}/api/stats?siteId=my_website&date=2024-11-14`);
    expect(r.status).toBe(404);
    expect(r.json).toEqual({
      statusCode: 404,
      message: 'No stats found for site my_website on 2024-11-14',
    });
  });

  it('Step 7, test the installation → 202 {success, eventId, visitorId}, counted for test_site on 2024-11-14', async () => {
    const r = await event(TEST_THE_INSTALLATION);
    expect(r.status).toBe(202);
    expect(r.json).toEqual({
      success: true,
      eventId: expect.stringMatching(UUID_V7),
      visitorId: expect.stringMatching(UUID),
    });
    await caughtUp(s);
    expect((await stats('test_site', '2024-11-14')).json).toEqual({
      siteId: 'test_site',
      date: '2024-11-14',
      totalViews: 1,
      uniqueUsers: 1,
      topPaths: [{ path: '/', views: 1 }],
    });
  });

  it('the Request Body (with eventId) → 202 with that eventId, counted for site_abc123 on 2024-11-14', async () => {
    const r = await event(REQUEST_BODY);
    expect(r.status).toBe(202);
    expect(r.json).toEqual({
      success: true,
      eventId: '550e8400-e29b-41d4-a716-446655440000',
      visitorId: expect.stringMatching(UUID),
    });
    await caughtUp(s);
    expect((await stats('site_abc123', '2024-11-14')).json).toEqual({
      siteId: 'site_abc123',
      date: '2024-11-14',
      totalViews: 1,
      uniqueUsers: 1,
      topPaths: [{ path: '/products/shoes', views: 1 }],
    });
  });

  it('the Example cURL Command → 202 {success, eventId, visitorId} and a one-year visitor_id cookie, counted for my_website on 2024-11-14', async () => {
    const r = await event(EXAMPLE_CURL);
    expect(r.status).toBe(202);
    expect(r.json).toEqual({
      success: true,
      eventId: expect.stringMatching(UUID_V7),
      visitorId: expect.stringMatching(UUID),
    });
    expect(r.headers.get('set-cookie')).toMatch(COOKIE);
    expect(COOKIE.exec(r.headers.get('set-cookie')!)![1]).toBe(r.json.visitorId);
    await caughtUp(s);
    expect((await stats('my_website', '2024-11-14')).json).toEqual({
      siteId: 'my_website',
      date: '2024-11-14',
      totalViews: 1,
      uniqueUsers: 1,
      topPaths: [{ path: '/about', views: 1 }],
    });
  });

  it('POST /api/event with a missing siteId and a bad timestamp → 400 in the NestJS shape', async () => {
    const r = await event({ eventType: 'page_view', path: '/about', timestamp: '14/11/2024' });
    expect(r.status).toBe(400);
    expect(r.json).toEqual(
      badRequest('siteId should not be empty', 'timestamp must be a valid ISO 8601 date string'),
    );
  });

  it('GET /api/stats?siteId=my_website&date=2024-11-14 → the README figures: every event type counts, top 10 paths, unique visitors', async () => {
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
        ts: '2024-11-14T09:00:00Z',
      })),
    );
    await caughtUp(s);
    const r = await request(`${s.url}/api/stats?siteId=my_website&date=2024-11-14`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      siteId: 'my_website',
      date: '2024-11-14',
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

  it('GET /api/queues/health → real counts of the log, keyed by the queue name', async () => {
    await caughtUp(s);
    const a = s.running.aggregator.stats();
    const completed = a.counted + a.duplicates;
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
    expect(completed).toBeGreaterThanOrEqual(1252);
    // A dead-lettered event is a failed job.
    await s.running.db.query(
      "INSERT INTO dead_letters (event_id, reason, payload) VALUES ('x', 'test', '{}')",
    );
    const after = await request(`${s.url}/api/queues/health`);
    expect(after.json['analytics-events']).toMatchObject({ failed: 1, total: completed + 1 });
  });

  it('GET /api/queues/admin is a page with the counts, the failed jobs and their actions', async () => {
    const r = await request(`${s.url}/api/queues/admin`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.text).toContain('<h1>analytics-events</h1>');
    expect(r.text).toMatch(/<th align="left">failed<\/th><td align="right">1<\/td>/);
    // Its actions are tested in test/ops/dead-letters.int.test.ts.
    for (const action of ['pause', 'retry']) {
      expect(r.text).toContain(`<form method="post" action="/api/queues/admin/${action}"`);
    }
    expect(r.text).toMatch(
      /<tr><td>1<\/td><td>[^<]+<\/td><td>x<\/td><td>test<\/td><td><code>\{\}<\/code>/,
    );
  });
});
