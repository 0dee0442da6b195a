/**
 * PostgreSQL unreachable for 10 s in the middle of a stream: the worker's connections go
 * through a TCP proxy the test cuts (existing connections dropped, new ones refused) and
 * restores. The API keeps acknowledging (no database on its path); the worker retries with
 * backoff, acknowledges nothing it did not commit, resumes by itself, and counts exactly.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startChild, type Child } from '../helpers/child.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { redisAvailable, requireService, TEST_REDIS_URL } from '../helpers/services.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { today } from '../helpers/server.js';

const children: Child[] = [];
let proxy: TcpProxy | undefined;
let dropDb: (() => Promise<void>) | undefined;
afterAll(async () => {
  for (const c of children) {
    c.proc.kill('SIGKILL');
  }
  await proxy?.close();
  await dropDb?.();
});

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
    const db = await createTestDatabase();
    dropDb = db.drop;
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const id = randomUUID().slice(0, 8);
    const common = {
      TRANSPORT: 'redis',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_STREAM: `tally-test-${id}`,
      CONSUMER_GROUP: `tally-test-${id}`,
      LOG_LEVEL: 'info',
    };
    const worker = await startChild(
      { ...common, DATABASE_URL: viaProxy.toString() },
      ['worker'],
      /tally worker is running/,
    );
    const api = await startChild({ ...common, DATABASE_URL: db.url }, ['api']);
    children.push(worker, api);

    const site = `outage-${id}`;
    const batch = (n: number) =>
      Array.from({ length: 50 }, (_, i) => ({
        event_id: `${site}-${n}-${i}`,
        type: 'page_view',
        site_id: site,
        path: '/',
        user_id: `u${i}`,
      }));
    const views = async () =>
      (
        (await (await fetch(`${api.url}/v1/stats?site_id=${site}&date=${today()}`)).json()) as {
          total_views: number;
        }
      ).total_views;

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
    expect(await views(), worker.output().slice(-3000)).toBe(expected);
    expect(countedDuringOutage).toBeLessThan(expected);
    expect(worker.output()).toMatch(/storage unavailable; batch not acknowledged, retrying/);
    for (const c of [worker, api]) {
      c.proc.kill('SIGTERM');
      expect(await c.exited, c.output()).toBe(0);
    }
  }, 120_000);
});
