/**
 * Seed 000 (ad events, POST /events, GET /health) through real HTTP against the full service:
 * the README's requests exactly as written, counted in their own minute (its ad_stats_minute).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, startServer, type TestServer } from '../helpers/server.js';
import { DAY, postJson, request, TOO_FAR_AHEAD, TOO_OLD, UUID_V7, waitForDrops } from './readme.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ MAX_BODY_BYTES: '4096' });
});
afterAll(async () => {
  await s.close();
});

const events = () => `${s.url}/events`;
const rejected = (error: string, errors?: { field: string; message: string }[]) => ({
  status: 'rejected',
  error,
  ...(errors ? { errors } : {}),
});

/** Seed 000's `ad_stats_minute`: per-minute rows of one ad over a range (`/v1/ads/stats`). */
async function adMinutes(from: string, to: string, adId: string) {
  const r = await request(
    `${s.url}/v1/ads/stats?interval=minute&from=${from}&to=${to}&group_by=ad_id&ad_id=${adId}`,
  );
  expect(r.status, r.text).toBe(200);
  return r.json.rows;
}

// The README's two requests, byte for byte: the "Example payload" and the curl `-d` body.
const EXAMPLE_PAYLOAD = `{
  "event_id": "0f7a4d9a-2f2e-4c6c-9d1b-7b0c9c9b3c31",
  "type": "impression",
  "ad_id": "1",
  "campaign_id": "1",
  "user_id": "1",
  "ts": "2026-02-02T12:34:56.789Z"
}`;
const SEND_ONE_EVENT =
  '{"event_id":"qssd-dsdf-sdfd-fdf-dfdc","type":"impression","ad_id":"1","ts":"2026-02-01T12:34:56.789Z"}';
const impressionOfAd1 = (bucket: string) => ({
  bucket,
  group: '1',
  impressions: 1,
  clicks: 0,
  ctr: 0,
});

describe('seed 000 README examples, sent as written', () => {
  it('curl http://localhost:3000/health', async () => {
    const r = await request(`${s.url}/health`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      ok: true,
      status: 'healthy',
      service: 'tally',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      database: 'connected',
      uptime: expect.any(Number),
      uptime_s: expect.any(Number),
      dependencies: {
        storage: { status: 'up', writable: true, last_write_at: expect.any(String) },
        log: {
          status: 'up',
          waiting: expect.any(Number),
          bytes: expect.any(Number),
          writable: true,
        },
        consumer: expect.objectContaining({ status: 'up', paused: false }),
      },
      lag: expect.any(Number),
      log_lost: { incidents: 0, events: 0 },
    });
  });

  it('send one event → 202 {"status":"accepted","event_id":"qssd-dsdf-sdfd-fdf-dfdc"}, counted in its minute of 2026-02-01', async () => {
    const r = await postJson(events(), SEND_ONE_EVENT);
    expect(r.status).toBe(202);
    expect(r.text).toBe('{"status":"accepted","event_id":"qssd-dsdf-sdfd-fdf-dfdc"}');
    await caughtUp(s);
    expect(await adMinutes('2026-02-01', '2026-02-01', '1')).toEqual([
      impressionOfAd1('2026-02-01T12:34:00.000Z'),
    ]);
  });

  it('the example payload → 202 {"status":"accepted","event_id":"0f7a4d9a-…"}, counted in its minute of 2026-02-02', async () => {
    const r = await postJson(events(), EXAMPLE_PAYLOAD);
    expect(r).toMatchObject({
      status: 202,
      json: { status: 'accepted', event_id: '0f7a4d9a-2f2e-4c6c-9d1b-7b0c9c9b3c31' },
    });
    await caughtUp(s);
    expect(await adMinutes('2026-02-02', '2026-02-02', '1')).toEqual([
      impressionOfAd1('2026-02-02T12:34:00.000Z'),
    ]);
    // Its campaign too; the other example (no campaign) groups under "".
    const r2 = await request(
      `${s.url}/v1/ads/stats?interval=minute&from=2026-02-01&to=2026-02-02&group_by=campaign_id&ad_id=1`,
    );
    expect(r2.json.rows).toEqual([
      { ...impressionOfAd1('2026-02-01T12:34:00.000Z'), group: '' },
      impressionOfAd1('2026-02-02T12:34:00.000Z'),
    ]);
  });

  it('both examples sent again: accepted, still counted once (their event_id, months later)', async () => {
    for (const body of [SEND_ONE_EVENT, EXAMPLE_PAYLOAD]) {
      expect((await postJson(events(), body)).status).toBe(202);
    }
    await caughtUp(s);
    expect(await adMinutes('2026-02-01', '2026-02-02', '1')).toEqual([
      impressionOfAd1('2026-02-01T12:34:00.000Z'),
      impressionOfAd1('2026-02-02T12:34:00.000Z'),
    ]);
  });
});

describe('seed 000 event times: MIN_EVENT_TS (2000-01-01) up to MAX_FUTURE_MS ahead', () => {
  it('refuses a time before the floor (as too_old) or too far ahead, in its shape; counts neither', async () => {
    const tooOld = rejected(`ts ${TOO_OLD}`, [{ field: 'ts', message: TOO_OLD }]);
    const ahead = rejected(`ts ${TOO_FAR_AHEAD}`, [{ field: 'ts', message: TOO_FAR_AHEAD }]);
    const cases: [unknown, unknown][] = [
      ['1970-01-01T00:00:00Z', tooOld],
      [0, tooOld],
      ['1999-12-31T23:59:59.999Z', tooOld],
      ['9999-12-31T23:59:59Z', ahead],
    ];
    for (const [ts, expected] of cases) {
      const r = await postJson(events(), { type: 'impression', ad_id: 'out-of-range', ts });
      expect(r.status, String(ts)).toBe(400);
      expect(r.json).toEqual(expected);
    }
    await waitForDrops(s.url, 'too_old', 3);
    await caughtUp(s);
    for (const [from, to] of [
      ['1970-01-01', '2199-12-31'],
      ['9999-12-31', '9999-12-31'],
    ]) {
      const r = await request(
        `${s.url}/v1/ads/stats?interval=day&from=${from}&to=${to}&ad_id=out-of-range`,
      );
      expect(r.status, r.text).toBe(200);
      expect(r.json.rows).toEqual([]);
    }
  });

  it('accepts the floor itself, counted in its minute', async () => {
    const r = await postJson(events(), {
      type: 'click',
      ad_id: 'floor',
      ts: '2000-01-01T00:00:00.000Z',
    });
    expect(r.status, r.text).toBe(202);
    await caughtUp(s);
    expect(await adMinutes('2000-01-01', '2000-01-01', 'floor')).toEqual([
      { bucket: '2000-01-01T00:00:00.000Z', group: 'floor', impressions: 0, clicks: 1, ctr: 0 },
    ]);
  });
});

describe('seed 000 ingestion', () => {
  it('assigns an event_id when the client gives none; ts defaults to now', async () => {
    const r = await postJson(events(), { type: 'click', ad_id: 'no-id' });
    expect(r.status).toBe(202);
    expect(r.json.event_id).toMatch(UUID_V7);
  });

  it('accepts timestamps with an offset and epoch milliseconds, and ignores unknown fields', async () => {
    for (const ts of [`${DAY}T12:00:00+05:30`, `${DAY}T12:00:00-0300`, Date.now() - 1000]) {
      const r = await postJson(events(), {
        type: 'impression',
        ad_id: 'tz',
        ts,
        extra: { ignored: true },
      });
      expect(r.status).toBe(202);
    }
  });

  it('dedupes a client event_id and counts per-minute ad counters after processing', async () => {
    const ts = '2026-02-01T12:34:56.789Z';
    for (let i = 0; i < 3; i++) {
      expect(
        (
          await postJson(events(), {
            event_id: 'dup-click',
            type: 'click',
            ad_id: 'ad-000',
            campaign_id: 'c',
            ts,
          })
        ).status,
      ).toBe(202);
    }
    for (const id of ['imp-1', 'imp-2', 'imp-3']) {
      await postJson(events(), {
        event_id: id,
        type: 'impression',
        ad_id: 'ad-000',
        campaign_id: 'c',
        user_id: 'u',
        ts,
      });
    }
    await caughtUp(s);
    const minute = '2026-02-01T12:34:00.000Z';
    const r = await request(
      `${s.url}/v1/ads/stats?interval=minute&from=${minute}&to=${minute}&ad_id=ad-000`,
    );
    expect(r.json.rows).toEqual([
      { bucket: minute, group: 'ad-000', impressions: 3, clicks: 1, ctr: 1 / 3 },
    ]);
  });
});

describe('seed 000 refuses, in its own error shape', () => {
  const cases: [string, unknown, number, unknown][] = [
    [
      'missing fields',
      {},
      400,
      rejected('type is required; ad_id is required', [
        { field: 'type', message: 'is required' },
        { field: 'ad_id', message: 'is required' },
      ]),
    ],
    [
      'another type',
      { type: 'page_view', ad_id: '1' },
      400,
      rejected('type must be "impression" or "click"', [
        { field: 'type', message: 'must be "impression" or "click"' },
      ]),
    ],
    [
      'non-string ids',
      { type: 'click', ad_id: 1, user_id: {} },
      400,
      rejected('ad_id must be a string; user_id must be a string', [
        { field: 'ad_id', message: 'must be a string' },
        { field: 'user_id', message: 'must be a string' },
      ]),
    ],
    [
      'an impossible date',
      { type: 'click', ad_id: '1', ts: '2026-02-30T00:00:00Z' },
      400,
      rejected('ts must be an ISO-8601 timestamp with Z or an offset, or epoch milliseconds', [
        {
          field: 'ts',
          message: 'must be an ISO-8601 timestamp with Z or an offset, or epoch milliseconds',
        },
      ]),
    ],
    [
      'an over-long event_id',
      { event_id: 'x'.repeat(129), type: 'click', ad_id: '1' },
      400,
      rejected('event_id must be 1 to 128 characters long', [
        { field: 'event_id', message: 'must be 1 to 128 characters long' },
      ]),
    ],
    [
      'an array body',
      [{ type: 'click', ad_id: '1' }],
      400,
      rejected('body must be a JSON object', [{ field: '', message: 'must be a JSON object' }]),
    ],
    ['malformed JSON', '{"type":"click",', 400, rejected('body is not valid JSON')],
    [
      'a body over MAX_BODY_BYTES',
      JSON.stringify({ type: 'click', ad_id: 'x'.repeat(5000) }),
      413,
      rejected('request body is larger than 4096 bytes'),
    ],
  ];
  it.each(cases)('%s', async (_name, body, status, expected) => {
    const r = await postJson(events(), body);
    expect(r.status).toBe(status);
    expect(r.json).toEqual(expected);
  });

  it('a non-JSON content type: 415', async () => {
    const r = await request(events(), {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<e/>',
    });
    expect(r.status).toBe(415);
    expect(r.json).toEqual(rejected('unsupported Content-Type: send application/json'));
  });
});
