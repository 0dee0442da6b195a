/**
 * Seed 004 (POST /event, GET /stats, also on REPORTING_PORT) over real HTTP. Its README has no
 * request examples (no curl, no JSON body, no date): the bodies are those of its servers (the
 * compatibility table of Tally's README), with the values of its `events` table description.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, startServer, type TestServer } from '../helpers/server.js';
import {
  DAY,
  OTHER_DAY,
  postJson,
  request,
  TOO_FAR_AHEAD,
  TOO_OLD,
  uniqueSite,
  waitForDrops,
} from './readme.js';

let s: TestServer;
let reportingUrl: string;
beforeAll(async () => {
  s = await startServer({ REPORTING_PORT: '0' });
  reportingUrl = `http://127.0.0.1:${(s.running.reportingApp!.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await s.close();
});

const QUEUED = { status: 'queued', message: 'Event received and queued for processing' };
const send = (body: unknown) => postJson(`${s.url}/event`, body);
const stats = (query: string, base = s.url) => request(`${base}/stats?${query}`);
const zeros = (site: string, date: string | null) => ({
  site_id: site,
  date,
  total_views: 0,
  unique_users: 0,
  top_paths: [],
});

describe('seed 004 POST /event', () => {
  it('202 {"status":"queued","message":"Event received and queued for processing"}, counted on its date (2025-11-12)', async () => {
    const r = await send({
      site_id: 'site-004',
      event_type: 'page_view',
      path: '/products/123',
      user_id: 'u-1',
      timestamp: '2025-11-12T10:00:00Z',
    });
    expect(r.status).toBe(202);
    expect(r.text).toBe(JSON.stringify(QUEUED));
    await caughtUp(s);
    const expected = {
      site_id: 'site-004',
      date: '2025-11-12',
      total_views: 1,
      unique_users: 1,
      top_paths: [{ path: '/products/123', views: 1 }],
    };
    for (const base of [s.url, reportingUrl]) {
      expect(await stats('site_id=site-004&date=2025-11-12', base)).toMatchObject({
        status: 200,
        json: expected,
      });
    }
  });

  it('timestamp is optional: the event is dated now', async () => {
    expect(await send({ site_id: 'site-004', event_type: 'page_view', path: '/' })).toMatchObject({
      status: 202,
      json: QUEUED,
    });
    await caughtUp(s);
    expect((await stats('site_id=site-004')).json).toMatchObject({
      date: null,
      total_views: 2,
      unique_users: 2, // u-1 and the anonymous visitor of today
    });
  });

  it.each([
    [
      'required fields missing',
      {},
      400,
      { errors: ['site_id is required', 'event_type is required', 'path is required'] },
    ],
    [
      'wrong types',
      { site_id: 'a', event_type: 5, path: '/', user_id: [] },
      400,
      { errors: ['event_type must be a string', 'user_id must be a string'] },
    ],
    [
      'an impossible date',
      { site_id: 'a', event_type: 'page_view', path: '/', timestamp: '2025-02-29T00:00:00Z' },
      400,
      {
        errors: ['timestamp must be a valid ISO date string with Z or an offset'],
      },
    ],
    [
      'a timestamp before MIN_EVENT_TS (2000-01-01)',
      { site_id: 'a', event_type: 'page_view', path: '/', timestamp: '1970-01-01T00:00:00Z' },
      400,
      { errors: [`timestamp ${TOO_OLD}`] },
    ],
    [
      'a timestamp in the year 9999 (more than MAX_FUTURE_MS ahead)',
      { site_id: 'a', event_type: 'page_view', path: '/', timestamp: '9999-12-31T23:59:59Z' },
      400,
      { errors: [`timestamp ${TOO_FAR_AHEAD}`] },
    ],
    ['a non-object body', '[1]', 400, { errors: ['body must be a JSON object'] }],
    ['malformed JSON', '{"site_id"', 400, { errors: ['body is not valid JSON'] }],
  ])('refuses %s in its shape', async (_name, body, status, expected) => {
    const r = await send(body);
    expect(r.status).toBe(status);
    expect(r.json).toEqual(expected);
  });

  it('counts a timestamp before the floor as a too_old drop, and in no report', async () => {
    const r = await send({
      site_id: 'old-004',
      event_type: 'page_view',
      path: '/',
      timestamp: '1999-12-31T23:59:59.999Z',
    });
    expect(r).toMatchObject({ status: 400, json: { errors: [`timestamp ${TOO_OLD}`] } });
    // With the 1970 case above: two in this file's fresh server.
    await waitForDrops(s.url, 'too_old', 2);
    await caughtUp(s);
    expect((await stats('site_id=old-004')).json).toEqual(zeros('old-004', null));
  });

  it('refuses a non-JSON content type (415)', async () => {
    const r = await request(`${s.url}/event`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'site_id=a',
    });
    expect(r).toMatchObject({
      status: 415,
      json: { errors: ['unsupported Content-Type: send application/json'] },
    });
  });
});

describe('seed 004 GET /stats', () => {
  it('zeros for an unknown site, for a day and for all time (date null)', async () => {
    expect(await stats(`site_id=nobody&date=${DAY}`)).toMatchObject({
      status: 200,
      json: zeros('nobody', DAY),
    });
    expect(await stats('site_id=nobody')).toMatchObject({
      status: 200,
      json: zeros('nobody', null),
    });
  });

  it('page views only, unique users, top 10 paths; an event_id deduplicates', async () => {
    const site = uniqueSite('s004');
    const pv = (path: string, n: number, day = DAY) =>
      Array.from({ length: n }, (_, i) => ({
        site_id: site,
        event_type: 'page_view',
        path,
        user_id: `u${i % 3}`,
        timestamp: `${day}T0${i % 10}:00:00+00:00`,
      }));
    const events = [
      ...Array.from({ length: 12 }, (_, k) => pv(`/p${k}`, 12 - k)).flat(),
      ...pv('/old', 20, OTHER_DAY),
      {
        site_id: site,
        event_type: 'add_to_cart',
        path: '/p11',
        user_id: 'buyer',
        timestamp: `${DAY}T12:00:00Z`,
      },
    ];
    for (const e of events) {
      expect((await send(e)).status).toBe(202);
    }
    for (let i = 0; i < 3; i++) {
      expect((await send({ ...pv('/p11', 1)[0], event_id: 'retry-004' })).status).toBe(202);
    }
    await caughtUp(s);
    const day = await stats(`site_id=${site}&date=${DAY}`);
    expect(day.json).toEqual({
      site_id: site,
      date: DAY,
      total_views: 79, // 12 + 11 + … + 1, plus one deduplicated retry
      unique_users: 4, // u0, u1, u2 and the buyer
      top_paths: Array.from({ length: 10 }, (_, k) => ({ path: `/p${k}`, views: 12 - k })),
    });
    const all = await stats(`site_id=${site}`);
    expect(all.json).toMatchObject({ date: null, total_views: 99, unique_users: 4 });
    expect(all.json.top_paths[0]).toEqual({ path: '/old', views: 20 });
  });

  it('refuses a missing site_id or an impossible date with {"error": …}', async () => {
    expect(await stats('date=2025-11-12')).toMatchObject({
      status: 400,
      json: { error: 'site_id is required' },
    });
    expect(await stats('site_id=a&date=2025-13-01')).toMatchObject({
      status: 400,
      json: { error: 'date must be a real date in YYYY-MM-DD format' },
    });
  });

  it('is also served on REPORTING_PORT (reports only)', async () => {
    expect(await stats('site_id=nobody', reportingUrl)).toMatchObject({
      status: 200,
      json: zeros('nobody', null),
    });
    expect(await stats('date=x', reportingUrl)).toMatchObject({
      status: 400,
      json: { error: 'site_id is required' },
    });
    expect(
      (
        await postJson(`${reportingUrl}/event`, {
          site_id: 'a',
          event_type: 'page_view',
          path: '/',
        })
      ).status,
    ).toBe(404);
  });
});
