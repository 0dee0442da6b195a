/** Reports through real HTTP after the aggregator has rolled the events up. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, get, post, startServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
const DAY = 86_400_000;
const base = Date.UTC(
  new Date().getUTCFullYear(),
  new Date().getUTCMonth(),
  new Date().getUTCDate(),
);
const d0 = new Date(base - 2 * DAY).toISOString().slice(0, 10); // two days ago
const d1 = new Date(base - DAY).toISOString().slice(0, 10); // yesterday
const at = (day: string, hhmm: string) => `${day}T${hhmm}:00Z`;

beforeAll(async () => {
  s = await startServer();
  const pv = (day: string, hhmm: string, path: string, user: string) => ({
    type: 'page_view',
    site_id: 'rep',
    path,
    user_id: user,
    ts: at(day, hhmm),
  });
  const r = await post(`${s.url}/v1/events`, [
    pv(d0, '23:59', '/a', 'u1'),
    pv(d1, '00:00', '/a', 'u1'),
    pv(d1, '00:30', '/b', 'u2'),
    pv(d1, '13:15', '/a', 'u3'),
    { type: 'signup', site_id: 'rep', visitor_id: 'v9', ts: at(d1, '13:20') },
    {
      type: 'impression',
      ad_id: 'ad1',
      campaign_id: 'c1',
      creative_id: 'k1',
      account_id: 'acc',
      ad_unit_id: 'u',
      ts: at(d1, '10:00'),
    },
    {
      type: 'impression',
      ad_id: 'ad1',
      campaign_id: 'c1',
      creative_id: 'k1',
      account_id: 'acc',
      ad_unit_id: 'u',
      ts: at(d1, '10:00'),
    },
    {
      type: 'click',
      ad_id: 'ad1',
      campaign_id: 'c1',
      creative_id: 'k1',
      account_id: 'acc',
      ad_unit_id: 'u',
      ts: at(d1, '10:00'),
    },
    { type: 'impression', ad_id: 'ad2', campaign_id: 'c1', ts: at(d1, '10:01') },
    { type: 'impression', ad_id: 'ad2', campaign_id: 'c2', ts: at(d0, '08:00') },
  ]);
  expect(r.status).toBe(202);
  await caughtUp(s);
});
afterAll(async () => {
  await s.close();
});

describe('GET /v1/stats', () => {
  it('one day: views, exact uniques, top paths, counts per type', async () => {
    const r = await get(`${s.url}/v1/stats?site_id=rep&date=${d1}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      site_id: 'rep',
      from: d1,
      to: d1,
      total_views: 3,
      total_events: 4,
      unique_users: 4,
      top_paths: [
        { path: '/a', views: 2 },
        { path: '/b', views: 1 },
      ],
      events_by_type: { page_view: 3, signup: 1 },
    });
  });

  it('a range counts a user seen on two days once, and honours top', async () => {
    const r = await get(`${s.url}/v1/stats?site_id=rep&from=${d0}&to=${d1}&top=1`);
    expect(r.body).toMatchObject({
      total_views: 4,
      unique_users: 4,
      top_paths: [{ path: '/a', views: 3 }],
    });
  });

  it('an unknown site gives 200 with zeros', async () => {
    const r = await get(`${s.url}/v1/stats?site_id=nobody&date=${d1}`);
    expect(r).toMatchObject({
      status: 200,
      body: { total_views: 0, total_events: 0, unique_users: 0, top_paths: [], events_by_type: {} },
    });
  });

  it.each([
    ['date=2026-02-30', 'date'],
    ['date=yesterday', 'date'],
    [`from=${d1}&to=${d0}`, 'from'],
    [`from=${d0}`, 'to'],
    ['', 'from'],
    [`date=${d1}&from=${d0}&to=${d1}`, 'date'],
    [`date=${d1}&top=0`, 'top'],
    [`date=${d1}&top=1001`, 'top'],
    [`from=2000-01-01&to=2026-01-01`, 'to'],
  ])('400 naming the parameter for %s', async (qs, field) => {
    const r = await get(`${s.url}/v1/stats?site_id=rep&${qs}`);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_PARAMETER');
    expect(r.body.error.details[0].field).toBe(field);
  });

  it('400 when site_id is missing', async () => {
    const r = await get(`${s.url}/v1/stats?date=${d1}`);
    expect(r).toMatchObject({ status: 400, body: { error: { details: [{ field: 'site_id' }] } } });
  });
});

describe('GET /v1/stats/timeseries', () => {
  it('per day, zero-filled, with unique users', async () => {
    const r = await get(
      `${s.url}/v1/stats/timeseries?site_id=rep&from=${d0}&to=${d1}&interval=day`,
    );
    expect(r.body.buckets).toEqual([
      { bucket: d0, views: 1, events: 1, unique_users: 1 },
      { bucket: d1, views: 3, events: 4, unique_users: 4 },
    ]);
  });

  it('per hour: UTC buckets either side of midnight', async () => {
    const r = await get(
      `${s.url}/v1/stats/timeseries?site_id=rep&from=${d0}&to=${d1}&interval=hour`,
    );
    expect(r.body.buckets).toHaveLength(48);
    const nonZero = r.body.buckets.filter((b: { events: number }) => b.events > 0);
    expect(nonZero).toEqual([
      { bucket: at(d0, '23:00').replace(':00Z', ':00.000Z'), views: 1, events: 1 },
      { bucket: at(d1, '00:00').replace(':00Z', ':00.000Z'), views: 2, events: 2 },
      { bucket: at(d1, '13:00').replace(':00Z', ':00.000Z'), views: 1, events: 2 },
    ]);
  });

  it('400 for an unknown interval and too many buckets', async () => {
    const bad = await get(
      `${s.url}/v1/stats/timeseries?site_id=rep&from=${d0}&to=${d1}&interval=week`,
    );
    expect(bad).toMatchObject({
      status: 400,
      body: { error: { details: [{ field: 'interval' }] } },
    });
    const many = await get(
      `${s.url}/v1/stats/timeseries?site_id=rep&from=2024-01-01&to=2025-12-31&interval=hour`,
    );
    expect(many.status).toBe(400);
    expect(many.body.error.message).toMatch(/maximum is 10000/);
  });
});

describe('GET /v1/ads/stats', () => {
  it('per hour by campaign, with CTR', async () => {
    const r = await get(
      `${s.url}/v1/ads/stats?from=${d1}&to=${d1}&interval=hour&group_by=campaign_id`,
    );
    expect(r.body.rows).toEqual([
      {
        bucket: at(d1, '10:00').replace(':00Z', ':00.000Z'),
        group: 'c1',
        impressions: 3,
        clicks: 1,
        ctr: 1 / 3,
      },
    ]);
  });

  it('per minute by ad, filtered by campaign', async () => {
    const r = await get(
      `${s.url}/v1/ads/stats?from=${d0}&to=${d1}&interval=minute&group_by=ad_id&campaign_id=c1`,
    );
    expect(r.body.rows).toEqual([
      {
        bucket: at(d1, '10:00').replace(':00Z', ':00.000Z'),
        group: 'ad1',
        impressions: 2,
        clicks: 1,
        ctr: 0.5,
      },
      {
        bucket: at(d1, '10:01').replace(':00Z', ':00.000Z'),
        group: 'ad2',
        impressions: 1,
        clicks: 0,
        ctr: 0,
      },
    ]);
  });

  it('per day by account, creative and ad unit; absent dimensions group as ""', async () => {
    const acc = await get(
      `${s.url}/v1/ads/stats?from=${d0}&to=${d1}&interval=day&group_by=account_id`,
    );
    expect(acc.body.rows).toEqual([
      { bucket: `${d0}T00:00:00.000Z`, group: '', impressions: 1, clicks: 0, ctr: 0 },
      { bucket: `${d1}T00:00:00.000Z`, group: '', impressions: 1, clicks: 0, ctr: 0 },
      { bucket: `${d1}T00:00:00.000Z`, group: 'acc', impressions: 2, clicks: 1, ctr: 0.5 },
    ]);
    const cr = await get(
      `${s.url}/v1/ads/stats?from=${d1}&to=${d1}&interval=day&group_by=creative_id&creative_id=k1`,
    );
    expect(cr.body.rows).toEqual([
      { bucket: `${d1}T00:00:00.000Z`, group: 'k1', impressions: 2, clicks: 1, ctr: 0.5 },
    ]);
  });

  it('bounds the rows and says so', async () => {
    const r = await get(
      `${s.url}/v1/ads/stats?from=${d0}&to=${d1}&interval=day&group_by=ad_id&limit=1`,
    );
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].field).toBe('limit');
    expect(r.body.error.message).toMatch(/more than 1 rows/);
    const huge = await get(`${s.url}/v1/ads/stats?from=2020-01-01&to=${d1}&interval=minute`);
    expect(huge.status).toBe(400);
    expect(huge.body.error.message).toMatch(/buckets requested/);
  });

  it.each([
    ['from=2026-02-30&to=2026-03-01', 'from'],
    [`from=${d1}&to=${d0}`, 'from'],
    [`from=${d0}&to=${d1}&interval=week`, 'interval'],
    [`from=${d0}&to=${d1}&group_by=site_id`, 'group_by'],
    [`from=${d0}&to=${d1}&limit=10001`, 'limit'],
    [`to=${d1}`, 'from'],
  ])('400 naming the parameter for %s', async (qs, field) => {
    const r = await get(`${s.url}/v1/ads/stats?${qs}`);
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].field).toBe(field);
  });
});

describe('pipeline visibility', () => {
  it('GET /v1/drops and /v1/dead-letters answer', async () => {
    expect((await get(`${s.url}/v1/drops?from=${d0}&to=${d1}`)).body).toEqual({
      drops: {},
      total: 0,
    });
    expect((await get(`${s.url}/v1/dead-letters`)).body).toEqual({ total: 0, items: [] });
    expect((await get(`${s.url}/v1/drops?from=2026-13-01`)).status).toBe(400);
  });
});
