/** Seed 001: invalid input answered in its JSend `fail` shape, never 500, over real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, startServer, type TestServer } from '../helpers/server.js';
import { TOO_FAR_AHEAD, TOO_OLD, waitForDrops } from './readme.js';
import { fail, seed001 } from './seed-clients.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

const { ingest, stats } = seed001(() => s.url);
const example = {
  site_id: 'site-abc-123',
  event_type: 'page_view',
  path: '/pricing',
  user_id: 'user-xyz-789',
  timestamp: '2025-11-12T19:30:01Z',
};

describe('seed 001 refuses, in its own error shape', () => {
  it.each([
    [
      'every required field missing',
      {},
      fail(
        ['body.site_id', 'site_id is required'],
        ['body.event_type', 'event_type is required'],
        ['body.timestamp', 'timestamp is required'],
      ),
    ],
    [
      'wrong types',
      { site_id: 1, event_type: 'page_view', timestamp: '2025-11-12T19:30:01Z', path: [] },
      fail(['body.site_id', 'site_id must be a string'], ['body.path', 'path must be a string']),
    ],
    [
      'a timestamp without a zone',
      { ...example, timestamp: '2025-11-12T19:30:01' },
      fail(['body.timestamp', 'timestamp must be an ISO 8601 datetime with Z or an offset']),
    ],
    [
      'an impossible date',
      { ...example, timestamp: '2026-02-30T10:00:00Z' },
      fail(['body.timestamp', 'timestamp must be an ISO 8601 datetime with Z or an offset']),
    ],
    [
      'a timestamp before MIN_EVENT_TS (2000-01-01)',
      { ...example, timestamp: '1970-01-01T00:00:00Z' },
      fail(['body.timestamp', `timestamp ${TOO_OLD}`]),
    ],
    [
      'a timestamp in the year 9999 (more than MAX_FUTURE_MS ahead)',
      { ...example, timestamp: '9999-12-31T23:59:59Z' },
      fail(['body.timestamp', `timestamp ${TOO_FAR_AHEAD}`]),
    ],
    [
      'an over-long path',
      { ...example, path: `/${'p'.repeat(2048)}` },
      fail(['body.path', 'path must be 1 to 2048 characters long']),
    ],
    ['a non-object body', '"page_view"', fail(['body', 'body must be a JSON object'])],
  ])('%s', async (_name, body, expected) => {
    const r = await ingest(body);
    expect(r.status).toBe(400);
    expect(r.json).toEqual(expected);
  });

  it('a timestamp before the floor is counted as a too_old drop, and nothing of it as a view', async () => {
    // The it.each case above and this one: two too_old drops in this file's fresh server.
    const r = await ingest({
      ...example,
      site_id: 'floor-001',
      timestamp: '1999-12-31T23:59:59.999Z',
    });
    expect(r).toMatchObject({
      status: 400,
      json: fail(['body.timestamp', `timestamp ${TOO_OLD}`]),
    });
    await waitForDrops(s.url, 'too_old', 2);
    await caughtUp(s);
    expect((await stats('site_id=floor-001')).status).toBe(404);
  });

  it('malformed JSON: 400, never 500', async () => {
    const r = await ingest('{"site_id":');
    expect(r).toMatchObject({
      status: 400,
      json: { status: 'fail', message: 'body is not valid JSON' },
    });
  });

  it('stats without site_id, or with an impossible date', async () => {
    expect(await stats('date=2025-11-12')).toMatchObject({
      status: 400,
      json: fail(['query.site_id', 'site_id is required']),
    });
    expect(await stats('site_id=a&date=2025-02-30')).toMatchObject({
      status: 400,
      json: fail(['query.date', 'date must be a real date in YYYY-MM-DD format']),
    });
  });
});
