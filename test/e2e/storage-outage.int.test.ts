/**
 * PostgreSQL unreachable for 10 s in the middle of a stream: the connections go through a TCP
 * proxy the test cuts (existing connections dropped, new ones refused) and restores. The API
 * keeps acknowledging (no database on its path); the worker retries with backoff, acknowledges
 * nothing it did not commit, resumes by itself, and counts exactly: every acknowledged event
 * once, none lost, none doubled. A `tally serve` (which stores the events itself) says in
 * `/health` that storage cannot write and turns `/ready` 503 meanwhile, and back after.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startChild, type Child } from '../helpers/child.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { redisAvailable, requireService, TEST_REDIS_URL } from '../helpers/services.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { today, waitFor } from '../helpers/server.js';

const children: Child[] = [];
const proxies: TcpProxy[] = [];
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of children) {
    c.proc.kill('SIGKILL');
  }
  for (const p of proxies) {
    await p.close();
  }
  for (const d of drops) {
    await d();
  }
});

/** A throw-away database and a proxy to it the test can cut. */
async function databaseBehindProxy() {
  const db = await createTestDatabase();
  drops.push(db.drop);
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
  proxies.push(proxy);
  const viaProxy = new URL(db.url);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  return { url: db.url, viaProxy: viaProxy.toString(), proxy };
}

const getJson = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};

const up =
  requireService('PostgreSQL', await pgAvailable(), 'it runs on 127.0.0.1:5432 on this machine') &&
  requireService('Redis', await redisAvailable(), 'bash scripts/services.sh up');

const post = async (url: string, body: unknown) => {
  const r = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await r.arrayBuffer();
  return r.status;
};

describe.skipIf(!up)('storage outage', () => {
  it('the worker survives 10 s without PostgreSQL and counts exactly', async () => {
    const { url: dbUrl, viaProxy, proxy } = await databaseBehindProxy();
    const id = randomUUID().slice(0, 8);
    const common = {
      TRANSPORT: 'redis',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_STREAM: `tally-test-${id}`,
      CONSUMER_GROUP: `tally-test-${id}`,
      // The shared test Redis runs without AOF; this test is about storage, not Redis.
      REDIS_ALLOW_NO_PERSISTENCE: 'true',
      LOG_LEVEL: 'info',
    };
    const worker = await startChild(
      { ...common, DATABASE_URL: viaProxy },
      ['worker'],
      /tally worker is running/,
    );
    const api = await startChild({ ...common, DATABASE_URL: dbUrl }, ['api']);
    children.push(worker, api);

    const site = `outage-${id}`;
    const batch = (n: number) =>
      Array.from({ length: 50 }, (_, i) => ({
        event_id: `${site}-${n}-${i}`,
        type: 'page_view',
        site_id: site,
        path: `/b${n}`,
        user_id: `u${i}`,
      }));
    // Each batch has a path of its own: one counted twice would be the top path, with 100 views.
    const stats = async () =>
      (await (await fetch(`${api.url}/v1/stats?site_id=${site}&date=${today()}&top=1`)).json()) as {
        total_views: number;
        top_paths: { views: number }[];
      };
    const views = async () => (await stats()).total_views;

    let n = 0;
    for (; n < 20; n++) {
      expect(await post(api.url, batch(n))).toBe(202);
    }
    await proxy.down();
    const cutAt = Date.now();
    // The stream goes on while storage is away: the edge still acknowledges durably.
    while (Date.now() - cutAt < 10_000) {
      expect(await post(api.url, batch(n++))).toBe(202);
      await new Promise((r) => setTimeout(r, 100));
    }
    const countedDuringOutage = await views();
    // The API has no aggregator: its storage is fine and it stays ready (it only publishes).
    expect((await getJson(`${api.url}/health`)).body.dependencies.consumer).toBeUndefined();
    expect((await getJson(`${api.url}/ready`)).status).toBe(200);
    await proxy.up();
    for (let k = 0; k < 20; k++) {
      expect(await post(api.url, batch(n++))).toBe(202);
    }
    const expected = n * 50;
    const deadline = Date.now() + 60_000;
    while ((await views()) < expected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const counted = await stats();
    expect(counted.total_views, worker.output().slice(-3000)).toBe(expected);
    expect(counted.top_paths[0]?.views).toBe(50);
    expect(countedDuringOutage).toBeLessThan(expected);
    expect(worker.output()).toMatch(/storage unavailable; batch not acknowledged, retrying/);
    for (const c of [worker, api]) {
      c.proc.kill('SIGTERM');
      expect(await c.exited, c.output()).toBe(0);
    }
  }, 120_000);

  it('tally serve: /ready 503 while storage cannot write, 200 after; every event counted once', async () => {
    const { viaProxy, proxy } = await databaseBehindProxy();
    const id = randomUUID().slice(0, 8);
    const serve = await startChild({
      TRANSPORT: 'redis',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_STREAM: `tally-test-${id}`,
      CONSUMER_GROUP: `tally-test-${id}`,
      REDIS_ALLOW_NO_PERSISTENCE: 'true',
      DATABASE_URL: viaProxy,
      LOG_LEVEL: 'info',
    });
    children.push(serve);
    const site = `outage-serve-${id}`;
    let n = 0;
    const send = async () => {
      const events = Array.from({ length: 20 }, (_, i) => ({
        event_id: `${site}-${n}-${i}`,
        type: 'page_view',
        site_id: site,
        path: `/b${n}`,
      }));
      n++;
      expect(await post(serve.url, events)).toBe(202);
    };
    for (let k = 0; k < 10; k++) {
      await send();
    }
    await proxy.down();
    const cutAt = Date.now();
    await waitFor(
      async () => {
        await send();
        return (await getJson(`${serve.url}/ready`)).status === 503;
      },
      20_000,
      { intervalMs: 100 },
    );
    console.log(`serve: /ready 503 ${Date.now() - cutAt} ms after storage was cut`);
    expect(await getJson(`${serve.url}/ready`)).toMatchObject({
      status: 503,
      body: { ready: false, storage_writable: false, log_writable: true },
    });
    const health = await getJson(`${serve.url}/health`);
    expect(health).toMatchObject({
      status: 503,
      body: { ok: false, database: 'disconnected', dependencies: { storage: { writable: false } } },
    });
    await proxy.up();
    const upAt = Date.now();
    await waitFor(async () => (await getJson(`${serve.url}/ready`)).status === 200, 20_000, {
      intervalMs: 100,
    });
    console.log(`serve: /ready 200 ${Date.now() - upAt} ms after storage came back`);
    for (let k = 0; k < 10; k++) {
      await send();
    }
    const expected = n * 20;
    await waitFor(
      async () =>
        (await getJson(`${serve.url}/v1/stats?site_id=${site}&date=${today()}`)).body.total_views >=
        expected,
      60_000,
      { intervalMs: 250 },
    );
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await getJson(`${serve.url}/v1/stats?site_id=${site}&date=${today()}&top=1`);
    expect(stats.body.total_views, serve.output().slice(-3000)).toBe(expected);
    expect(stats.body.top_paths[0].views).toBe(20);
    expect((await getJson(`${serve.url}/health`)).body).toMatchObject({
      ok: true,
      dependencies: { storage: { writable: true }, consumer: { status: 'up' } },
    });
    serve.proc.kill('SIGTERM');
    expect(await serve.exited, serve.output()).toBe(0);
  }, 120_000);
});
