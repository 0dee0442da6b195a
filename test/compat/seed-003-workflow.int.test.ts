/**
 * Seed 003's README "Complete Testing Workflow" (Tests 1–4), every request sent as written to
 * test_site on 2024-11-14 and checked in GET /api/stats. The workflow contradicts itself: as
 * written, Test 1 and the "Alternative" send no cookie (new visitors: 4 views by 3 visitors); its
 * expected result (3 views, 1 visitor) holds when Test 1 comes from the browser of Test 2 and the
 * Alternative is left out. Each reading gets its own server, so test_site starts empty.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, startServer, type TestServer } from '../helpers/server.js';
import { postJson, request, UUID } from './readme.js';

const VISITOR = '550e8400-e29b-41d4-a716-446655440001';
const EVENT_ID = '550e8400-e29b-41d4-a716-446655440099';
const STATS = '/api/stats?siteId=test_site&date=2024-11-14';

// The curl `-d '…'` bodies, byte for byte.
const curlBody = (path: string, time: string) => `{
    "siteId": "test_site",
    "eventType": "page_view",
    "path": "${path}",
    "timestamp": "2024-11-14T${time}Z"
  }`;
const TEST_1 = curlBody('/home', '10:00:00');
const TEST_2_EVENT_1 = curlBody('/products', '10:05:00');
const TEST_2_EVENT_2 = curlBody('/about', '10:10:00');
const TEST_2_ALTERNATIVE = curlBody('/contact', '10:15:00');
// Test 4's `-d "{ … \"eventId\": \"$EVENT_ID\" }"` as the shell expands it.
const TEST_4 = `{
      "siteId": "test_site",
      "eventType": "page_view",
      "path": "/duplicate-test",
      "timestamp": "2024-11-14T11:00:00Z",
      "eventId": "${EVENT_ID}"
    }`;

function workflow(
  name: string,
  steps: (ctx: { url: () => string; server: () => TestServer }) => void,
) {
  describe(name, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startServer();
    });
    afterAll(async () => {
      await s.close();
    });
    steps({ url: () => s.url, server: () => s });
  });
}

/** The README's two requests of the workflow, against one of the two servers. */
function client(c: { url: () => string; server: () => TestServer }) {
  return {
    send: (body: string, cookie?: string) =>
      postJson(`${c.url()}/api/event`, body, cookie ? { cookie: `visitor_id=${cookie}` } : {}),
    stats: async () => {
      await caughtUp(c.server());
      return request(`${c.url()}${STATS}`);
    },
  };
}

const views = (...paths: string[]) => paths.map((path) => ({ path, views: 1 }));

workflow(
  'seed 003 workflow as the expected result reads (Test 1 from the browser of Test 2)',
  (c) => {
    const { send, stats } = client(c);

    it('Test 1 with the visitor_id cookie → 202, the cookie is the visitor (not re-sent)', async () => {
      const r = await send(TEST_1, VISITOR);
      expect(r.status).toBe(202);
      expect(r.json).toMatchObject({ success: true, visitorId: VISITOR });
      expect(r.headers.get('set-cookie')).toBeNull();
      expect((await stats()).json).toMatchObject({ totalViews: 1, uniqueUsers: 1 });
    });

    it('Test 2, events 1 and 2 (same visitor, different paths) → 202 each', async () => {
      for (const body of [TEST_2_EVENT_1, TEST_2_EVENT_2]) {
        const r = await send(body, VISITOR);
        expect(r.status).toBe(202);
        expect(r.json).toMatchObject({ success: true, visitorId: VISITOR });
        expect(r.headers.get('set-cookie')).toBeNull();
      }
      expect((await stats()).json).toMatchObject({ totalViews: 3, uniqueUsers: 1 });
    });

    it('Test 3: GET /api/stats?siteId=test_site&date=2024-11-14 → exactly the Expected Result', async () => {
      const r = await stats();
      expect(r.status).toBe(200);
      expect(r.json).toEqual({
        siteId: 'test_site',
        date: '2024-11-14',
        totalViews: 3,
        uniqueUsers: 1,
        topPaths: views('/home', '/products', '/about'),
      });
    });

    it('Test 4: the same eventId sent 3 times (no cookie) → 202 each, counted once', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await send(TEST_4);
        expect(r).toMatchObject({ status: 202, json: { success: true, eventId: EVENT_ID } });
      }
      const r = await stats();
      expect(r.json).toEqual({
        siteId: 'test_site',
        date: '2024-11-14',
        totalViews: 4,
        uniqueUsers: 2, // the visitor of the one copy counted
        topPaths: views('/home', '/products', '/about', '/duplicate-test'),
      });
    });
  },
);

workflow(
  'seed 003 workflow as literally written (Test 1 and the Alternative without a cookie)',
  (c) => {
    const { send, stats } = client(c);

    it('Test 1 → 202 and a new visitor (cookie set)', async () => {
      const r = await send(TEST_1);
      expect(r.status).toBe(202);
      expect(r.json).toMatchObject({ success: true, visitorId: expect.stringMatching(UUID) });
      expect(r.headers.get('set-cookie')).toContain(`visitor_id=${String(r.json.visitorId)};`);
      expect((await stats()).json).toMatchObject({ totalViews: 1, uniqueUsers: 1 });
    });

    it('Test 2: events 1 and 2 with the cookie, the Alternative without → 202 each', async () => {
      for (const body of [TEST_2_EVENT_1, TEST_2_EVENT_2]) {
        expect(await send(body, VISITOR)).toMatchObject({
          status: 202,
          json: { visitorId: VISITOR },
        });
      }
      const alt = await send(TEST_2_ALTERNATIVE);
      expect(alt.status).toBe(202);
      expect(alt.json.visitorId).not.toBe(VISITOR);
    });

    it('Test 3: GET /api/stats?siteId=test_site&date=2024-11-14 → 4 views by 3 visitors', async () => {
      const r = await stats();
      expect(r.status).toBe(200);
      expect(r.json).toEqual({
        siteId: 'test_site',
        date: '2024-11-14',
        totalViews: 4,
        uniqueUsers: 3,
        topPaths: views('/home', '/products', '/about', '/contact'),
      });
    });

    it('Test 4: the same eventId sent 3 times → counted once', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await send(TEST_4);
        expect(r).toMatchObject({ status: 202, json: { success: true, eventId: EVENT_ID } });
      }
      const r = await stats();
      expect(r.json).toEqual({
        siteId: 'test_site',
        date: '2024-11-14',
        totalViews: 5,
        uniqueUsers: 4,
        topPaths: views('/home', '/products', '/about', '/contact', '/duplicate-test'),
      });
    });
  },
);
