/** Seed 003: invalid input in the NestJS shape, the visitor cookie, site event types, over real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, startServer, type TestServer } from '../helpers/server.js';
import { request, TOO_FAR_AHEAD, TOO_OLD, uniqueSite, UUID, waitForDrops } from './readme.js';
import { badRequest, COOKIE, seed003 } from './seed-clients.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ MAX_BODY_BYTES: '65536' });
});
afterAll(async () => {
  await s.close();
});

const { event, stats } = seed003(() => s.url);
/** A page view of the README's day (2024-11-14). */
const tv = (path: string, time: string, day = '2024-11-14', siteId = 'test_site') => ({
  siteId,
  eventType: 'page_view',
  path,
  timestamp: `${day}T${time}Z`,
});

describe('seed 003 refuses, in the NestJS shape', () => {
  it.each([
    [
      'an empty body',
      {},
      badRequest(
        'siteId should not be empty',
        'eventType should not be empty',
        'path should not be empty',
        'timestamp should not be empty',
      ),
    ],
    [
      'wrong types',
      {
        siteId: 1,
        eventType: 'x',
        path: '/',
        timestamp: '2024-11-14T10:00:00Z',
        eventId: 7,
      },
      badRequest('siteId must be a string', 'eventId must be a string'),
    ],
    [
      'an impossible date',
      { ...tv('/', '10:00:00'), timestamp: '2024-02-30T10:00:00Z' },
      badRequest('timestamp must be a valid ISO 8601 date string'),
    ],
    [
      'a timestamp before MIN_EVENT_TS (2000-01-01)',
      { ...tv('/', '10:00:00'), timestamp: '1970-01-01T00:00:00Z' },
      badRequest(`timestamp ${TOO_OLD}`),
    ],
    [
      'a timestamp in the year 9999 (more than MAX_FUTURE_MS ahead)',
      { ...tv('/', '10:00:00'), timestamp: '9999-12-31T23:59:59Z' },
      badRequest(`timestamp ${TOO_FAR_AHEAD}`),
    ],
    [
      'an over-long eventId',
      { ...tv('/', '10:00:00'), eventId: 'e'.repeat(129) },
      badRequest('eventId must be 1 to 128 characters long'),
    ],
    [
      'an over-long eventType',
      { ...tv('/', '10:00:00'), eventType: 't'.repeat(65) },
      badRequest(
        'eventType must be shorter than or equal to 64 characters, with a letter or digit',
      ),
    ],
  ])('%s', async (_name, body, expected) => {
    const r = await event(body);
    expect(r.status).toBe(400);
    expect(r.json).toEqual(expected);
    expect(r.headers.get('set-cookie')).toBeNull();
  });

  it('a timestamp before the floor is counted as a too_old drop and in no report', async () => {
    const site = uniqueSite('s003-old');
    const r = await event(tv('/', '23:59:59.999', '1999-12-31', site));
    expect(r).toMatchObject({ status: 400, json: badRequest(`timestamp ${TOO_OLD}`) });
    expect(r.headers.get('set-cookie')).toBeNull();
    // With the 1970 case above: two in this file's fresh server.
    await waitForDrops(s.url, 'too_old', 2);
    await caughtUp(s);
    expect((await stats(site, '1999-12-31')).status).toBe(404);
  });

  it('the README date itself is accepted and counted (a test_site view on 2024-11-14)', async () => {
    const r = await event(tv('/refusals-file', '12:00:00'));
    expect(r.status).toBe(202);
    await caughtUp(s);
    expect((await stats('test_site', '2024-11-14')).json).toEqual({
      siteId: 'test_site',
      date: '2024-11-14',
      totalViews: 1,
      uniqueUsers: 1,
      topPaths: [{ path: '/refusals-file', views: 1 }],
    });
  });

  it('malformed JSON (400) and a body over MAX_BODY_BYTES (413)', async () => {
    expect(await event('{"siteId":')).toMatchObject({
      status: 400,
      json: { statusCode: 400, message: 'body is not valid JSON', error: 'Bad Request' },
    });
    expect(await event({ ...tv('/', '10:00:00'), path: 'p'.repeat(70_000) })).toMatchObject({
      status: 413,
      json: {
        statusCode: 413,
        message: 'request body is larger than 65536 bytes',
        error: 'Payload Too Large',
      },
    });
  });

  it('stats without siteId and date, or with an impossible date', async () => {
    expect(await request(`${s.url}/api/stats`)).toMatchObject({
      status: 400,
      json: badRequest('siteId should not be empty', 'date should not be empty'),
    });
    expect(await stats('test_site', '2024-02-30')).toMatchObject({
      status: 400,
      json: badRequest('date must be a valid ISO 8601 date string (YYYY-MM-DD)'),
    });
  });
});

describe('seed 003 visitor cookie and event types', () => {
  it('an unusable cookie is replaced; offsets are accepted; a site click is a site_click', async () => {
    const site = uniqueSite('s003c');
    const r = await event(
      { siteId: site, eventType: 'Click', path: '/', timestamp: '2024-11-14T10:00:00+02:00' },
      'x'.repeat(300),
    );
    expect(r.status).toBe(202);
    expect(r.json.visitorId).toMatch(UUID);
    expect(r.headers.get('set-cookie')).toMatch(COOKIE);
    await caughtUp(s);
    const v1 = await request(`${s.url}/v1/stats?site_id=${site}&date=2024-11-14`);
    expect(v1.json).toMatchObject({
      total_events: 1,
      unique_users: 1,
      events_by_type: { site_click: 1 },
    });
    expect((await stats(site, '2024-11-14')).json).toMatchObject({
      totalViews: 1,
      topPaths: [{ path: '/', views: 1 }],
    });
  });
});
