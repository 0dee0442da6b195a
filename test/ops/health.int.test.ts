/**
 * `/health` and `/ready` of `tally serve` (embedded log and database), through real HTTP on an
 * in-process server: every dependency's fields, the consumer's progress and lag as events wait
 * behind a paused aggregator, and the log's losses (none here). The faults that flip them are
 * in test/storage/disk-full.int.test.ts (storage cannot write), test/e2e/storage-outage.int.test.ts
 * (PostgreSQL unreachable) and test/transport/embedded-log-disk.int.test.ts (log at its reserve).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { caughtUp, get, post, startServer, waitFor, type TestServer } from '../helpers/server.js';

let server: TestServer | undefined;
afterAll(async () => {
  await server?.close();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const events = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    event_id: `health-${tag}-${i}`,
    type: 'page_view',
    site_id: 'health',
    path: '/',
  }));

describe('health and readiness', () => {
  it('reports storage, log, consumer, lag and log losses; /ready says what it checked', async () => {
    server = await startServer();
    const { url } = server;

    const first = await get(`${url}/health`);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      ok: true,
      status: 'healthy',
      service: 'tally',
      timestamp: expect.stringMatching(ISO),
      database: 'connected',
      uptime: expect.any(Number),
      uptime_s: expect.any(Number),
      dependencies: {
        // The write probe ran: nothing else had written yet.
        storage: { status: 'up', writable: true, last_write_at: expect.stringMatching(ISO) },
        log: { status: 'up', waiting: 0, bytes: 0, writable: true },
        consumer: { status: 'up', paused: false, last_batch_at: null },
      },
      lag: 0,
      log_lost: { incidents: 0, events: 0 },
    });
    expect(await get(`${url}/ready`)).toMatchObject({
      status: 200,
      body: {
        ready: true,
        migrated: true,
        log_open: true,
        log_writable: true,
        storage_writable: true,
        accepting: true,
      },
    });

    expect((await post(`${url}/v1/events`, events('a', 30))).status).toBe(202);
    await caughtUp(server);
    const after = (await get(`${url}/health`)).body;
    expect(after.dependencies.consumer).toEqual({
      status: 'up',
      paused: false,
      last_batch_at: expect.stringMatching(ISO),
    });
    expect(Date.parse(after.dependencies.storage.last_write_at)).toBeGreaterThanOrEqual(
      Date.parse(after.dependencies.consumer.last_batch_at) - 1000,
    );

    // Paused: events wait in the log, counted as lag; still healthy and ready (it is on purpose).
    server.running.aggregator.pause();
    expect((await post(`${url}/v1/events`, events('b', 40))).status).toBe(202);
    await waitFor(async () => (await get(`${url}/health`)).body.lag === 40);
    const paused = await get(`${url}/health`);
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({
      ok: true,
      lag: 40,
      dependencies: { log: { waiting: 40 }, consumer: { status: 'paused', paused: true } },
    });
    expect((await get(`${url}/ready`)).status).toBe(200);

    server.running.aggregator.resume();
    await caughtUp(server);
    const resumed = (await get(`${url}/health`)).body;
    expect(resumed).toMatchObject({ lag: 0, dependencies: { consumer: { status: 'up' } } });
    const stats = await get(
      `${url}/v1/stats?site_id=health&date=${new Date().toISOString().slice(0, 10)}`,
    );
    expect(stats.body.total_views).toBe(70);

    // Shutting down: not ready, and says why.
    const closing = server.running.close();
    const ready = await get(`${url}/ready`).catch(() => undefined);
    if (ready) {
      expect(ready).toMatchObject({ status: 503, body: { ready: false, accepting: false } });
    }
    await closing;
    server = undefined;
  });
});
