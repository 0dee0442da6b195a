/**
 * Real HTTP against the full service with the in-memory limiter (no REDIS_URL): per-IP and
 * per-site limits on POST /v1/events, 429 with Retry-After and RateLimit-* headers, and
 * X-Forwarded-For honoured only from TRUSTED_PROXIES. Nothing is mocked.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, post, startServer, waitFor, type TestServer } from '../helpers/server.js';

const DAY = 86_400_000; // a long window: no window boundary falls inside a test
let behindProxy: TestServer;
let direct: TestServer;
beforeAll(async () => {
  [behindProxy, direct] = await Promise.all([
    startServer({
      RATE_LIMIT_MAX: '3',
      RATE_LIMIT_WINDOW_MS: String(DAY),
      TRUSTED_PROXIES: '127.0.0.1,10.0.0.0/8',
    }),
    startServer({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: String(DAY) }),
  ]);
});
afterAll(async () => {
  await Promise.all([behindProxy?.close(), direct?.close()]);
});

const uniq = () => randomUUID().slice(0, 8);
const ev = (site_id = `site-${uniq()}`) => ({ type: 'page_view', site_id, path: '/' });
const randomIp = () =>
  `198.51.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;
const from = (ip: string) => ({ 'x-forwarded-for': ip });
const rl = (h: Headers) => [h.get('ratelimit-limit'), h.get('ratelimit-remaining')];

describe('per client IP', () => {
  it('answers 429 after RATE_LIMIT_MAX requests, with Retry-After and RateLimit-* headers', async () => {
    const ip = randomIp();
    const ok = [];
    for (let i = 0; i < 3; i++) {
      ok.push(await post(`${behindProxy.url}/v1/events`, ev(), from(ip)));
    }
    expect(ok.map((r) => [r.status, ...rl(r.headers)])).toEqual([
      [202, '3', '2'],
      [202, '3', '1'],
      [202, '3', '0'],
    ]);
    const reset = Number(ok[0]!.headers.get('ratelimit-reset'));
    expect(reset).toBeGreaterThan(0);
    expect(reset).toBeLessThanOrEqual(DAY / 1000);

    const refused = await post(`${behindProxy.url}/v1/events`, ev(), from(ip));
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      error: { code: 'RATE_LIMITED', message: expect.stringMatching(/too many requests/) },
    });
    expect(rl(refused.headers)).toEqual(['3', '0']);
    expect(refused.headers.get('retry-after')).toBe(refused.headers.get('ratelimit-reset'));
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    // Another client behind the same proxy has its own budget.
    expect((await post(`${behindProxy.url}/v1/events`, ev(), from(randomIp()))).status).toBe(202);
  });

  it('counts refused requests in the drop ledger', async () => {
    await waitFor(async () => {
      const r = await get(`${behindProxy.url}/v1/drops`);
      return (r.body.drops.rate_limited_requests ?? 0) >= 1;
    });
  });
});

describe('X-Forwarded-For', () => {
  it('is honoured from a trusted proxy, rightmost untrusted hop first (client-written hops ignored)', async () => {
    const ip = randomIp();
    for (let i = 0; i < 3; i++) {
      // The client forges a new leftmost address each time; the proxy chain appends the real one.
      const r = await post(
        `${behindProxy.url}/v1/events`,
        ev(),
        from(`${randomIp()}, ${ip}, 10.0.0.7`),
      );
      expect(r.status).toBe(202);
    }
    const r = await post(
      `${behindProxy.url}/v1/events`,
      ev(),
      from(`${randomIp()}, ${ip}, 10.0.0.7`),
    );
    expect(r.status).toBe(429);
  });

  it('is ignored from a peer that is not a trusted proxy', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await post(`${direct.url}/v1/events`, ev(), from(randomIp()))).status);
    }
    expect(statuses).toEqual([202, 202, 202, 429]);
  });
});

describe('per site', () => {
  it('limits one site across clients, counting each request once per distinct site it carries', async () => {
    const site = `site-${uniq()}`;
    const other = `site-${uniq()}`;
    // Two events of `site` and one of `other` in one request: `site` counts once.
    const first = await post(
      `${behindProxy.url}/v1/events`,
      [ev(site), ev(site), ev(other)],
      from(randomIp()),
    );
    expect(first.status).toBe(202);
    // The tightest of the IP and site budgets is reported.
    expect(rl(first.headers)).toEqual(['3', '2']);
    for (let i = 0; i < 2; i++) {
      expect((await post(`${behindProxy.url}/v1/events`, ev(site), from(randomIp()))).status).toBe(
        202,
      );
    }
    const refused = await post(
      `${behindProxy.url}/v1/events`,
      { events: [ev(site), ev(site)] },
      from(randomIp()),
    );
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    expect(refused.headers.get('retry-after')).toBeTruthy();
    // `other` was counted once and still has room.
    const again = await post(`${behindProxy.url}/v1/events`, ev(other), from(randomIp()));
    expect([again.status, ...rl(again.headers)]).toEqual([202, '3', '1']);
    // Its two events are in the drop ledger.
    await waitFor(
      async () => ((await get(`${behindProxy.url}/v1/drops`)).body.drops.rate_limited ?? 0) >= 2,
    );
  });

  it('leaves other routes alone', async () => {
    const r = await get(`${direct.url}/health`);
    expect(r.headers.get('ratelimit-limit')).toBeNull();
  });
});
