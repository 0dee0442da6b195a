/** Seed 000's rate limit (RATE_LIMIT_WINDOW_MS, RATE_LIMIT_MAX → 429) on the full service, over real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';
import { postJson, request } from './readme.js';

describe('seed 000 rate limit (RATE_LIMIT_WINDOW_MS, RATE_LIMIT_MAX)', () => {
  let limited: TestServer;
  beforeAll(async () => {
    // Windows are fixed and epoch-aligned: a day-long one cannot roll over mid-test (but at midnight).
    limited = await startServer({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '86400000' });
  });
  afterAll(async () => {
    await limited.close();
  });

  it('answers 429 with Retry-After once the window holds RATE_LIMIT_MAX requests, counting the refusals', async () => {
    const send = () => postJson(`${limited.url}/events`, { type: 'impression', ad_id: 'rl' });
    for (const remaining of ['2', '1', '0']) {
      const r = await send();
      expect(r.status).toBe(202);
      expect(r.headers.get('ratelimit-limit')).toBe('3');
      expect(r.headers.get('ratelimit-remaining')).toBe(remaining);
    }
    const r = await send();
    expect(r.status).toBe(429);
    expect(r.json).toEqual({
      status: 'rejected',
      error: 'Too many requests, please try again later.',
    });
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(86_400);
    expect(r.headers.get('ratelimit-remaining')).toBe('0');
    // The budget is per client, whichever API it uses: the other seeds refuse in their shapes.
    const nest = await postJson(`${limited.url}/api/event`, {
      siteId: 's',
      eventType: 'page_view',
      path: '/',
      timestamp: '2024-11-14T10:00:00Z',
    });
    expect(nest).toMatchObject({
      status: 429,
      json: {
        statusCode: 429,
        message: 'Too many requests, please try again later.',
        error: 'Too Many Requests',
      },
    });
    const pixel = await request(
      `${limited.url}/event/click?ad_unit_id=1&campaign_id=2&creative_id=3&page_url=x`,
    );
    expect(pixel).toMatchObject({
      status: 429,
      json: { error: 'Too many requests, please try again later.' },
    });
    await waitFor(
      async () => (await request(`${limited.url}/v1/drops`)).json.drops.rate_limited_requests === 3,
    );
  });
});
