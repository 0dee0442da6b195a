/**
 * Redis faults, for real: a redis-server of the test's own (own port, own directory; the shared
 * one is never touched) killed with SIGKILL and started again, with AOF (`appendfsync always`:
 * nothing acknowledged lost, nothing doubled, ingest accepting again within 500 ms) and without
 * (the loss is found: error log, `log_lost` in /v1/drops, `stats().lost`); a stream entry that
 * is not JSON dead-lettered; a killed worker's pending entries taken over within 10 s while a
 * live but stuck worker keeps its own. Real `tally api` / `tally worker` processes on a real
 * PostgreSQL; the only stand-in is a TCP proxy that cuts a worker off its database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStreams } from '../../src/transport/redis-streams.js';
import { redisReachable } from '../harness/probe.js';
import { freePort } from '../harness/spawn.js';
import { sleep, waitFor } from '../harness/ready.js';
import { countsExactly, drops, events, post, views } from './fault-client.js';
import { startChild, type Child } from '../helpers/child.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { requireService } from '../helpers/services.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { ev, testLog } from './transport.contract.js';

const REDIS_SERVER = '/usr/bin/redis-server';
const pgUp = requireService('PostgreSQL', await pgAvailable(), 'it runs on 127.0.0.1:5432');
const redisUp = requireService(
  'redis-server',
  await import('node:fs').then((fs) => fs.existsSync(REDIS_SERVER)),
  `${REDIS_SERVER} is needed to start a Redis of the test's own`,
);

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c();
  }
});

/** A redis-server of our own; `restart` after a SIGKILL keeps its port and directory. */
async function ownRedis(aof: boolean) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tally-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
    args.push('--appendonly', aof ? 'yes' : 'no', '--appendfsync', 'always');
    proc = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    await waitFor(() => redisReachable(url), 10_000, { intervalMs: 10 });
  };
  const kill9 = async () => {
    const p = proc!;
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
  };
  /** SIGSTOP / SIGCONT: a Redis that keeps its connections open and answers nothing. */
  const pause = (on: boolean) => void proc!.kill(on ? 'SIGSTOP' : 'SIGCONT');
  await start();
  cleanups.push(() => {
    proc?.kill('SIGCONT');
    proc?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return { url, start, kill9, pause };
}

/** The database through a TCP proxy of its own: cut, a worker holds what it read, uncounted. */
async function proxied(dbUrl: string) {
  const target = new URL(dbUrl);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  cleanups.push(() => proxy.close());
  const url = new URL(dbUrl);
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}

async function database() {
  const db = await createTestDatabase();
  cleanups.push(db.drop);
  return db;
}

async function tally(env: Record<string, string>, role: 'api' | 'worker'): Promise<Child> {
  const c = await startChild(
    { LOG_LEVEL: 'info', ...env },
    [role],
    role === 'worker' ? /tally worker is running/ : undefined,
  );
  cleanups.push(() => void c.proc.kill('SIGKILL'));
  return c;
}

const redisEnv = (url: string, dbUrl: string) => {
  const id = randomUUID().slice(0, 8);
  return {
    TRANSPORT: 'redis',
    REDIS_URL: url,
    REDIS_STREAM: `faults-${id}`,
    DATABASE_URL: dbUrl,
    // Whatever the suite's environment says (see test/helpers/global-setup.ts): these tests
    // decide it per test, on their own Redis.
    REDIS_ALLOW_NO_PERSISTENCE: 'false',
  };
};

describe.skipIf(!pgUp || !redisUp)('Redis faults', () => {
  it('kill -9 with AOF: nothing acknowledged lost or doubled; ingest accepts within 500 ms of the restart', async () => {
    const redis = await ownRedis(true);
    const db = await database();
    const env = redisEnv(redis.url, db.url);
    const worker = await tally(env, 'worker');
    const api = await tally(env, 'api');
    const site = `aof-${randomUUID().slice(0, 8)}`;
    let acked = 0;
    let stop = false;
    const loops = Array.from({ length: 4 }, async (_, loop) => {
      for (let n = 0; !stop; n++) {
        while ((await post(api.url, events(site, `${loop}-${n}`, 10))) !== 202) {
          await sleep(20); // the client resends what got no 202, with the same ids
        }
        acked++;
      }
    });
    await waitFor(() => acked >= 100, 30_000);
    await redis.kill9();
    await sleep(1000);
    // While the log is away the API is not ready: a load balancer moves its traffic elsewhere.
    const away = await fetch(`${api.url}/ready`);
    expect(away.status).toBe(503);
    expect(await away.json()).toMatchObject({ ready: false, log_open: false });
    await redis.start();
    const backAt = Date.now();
    while ((await post(api.url, events(site, 'probe', 1))) !== 202) {
      await sleep(10);
    }
    const acceptedAfterMs = Date.now() - backAt;
    const before = acked;
    await waitFor(() => acked >= before + 100, 30_000);
    stop = true;
    await Promise.all(loops);
    expect((await fetch(`${api.url}/ready`)).status).toBe(200);
    await countsExactly(api.url, site, acked * 10 + 1);
    expect(acceptedAfterMs).toBeLessThan(500);
    console.log(`ingest accepted ${acceptedAfterMs} ms after Redis was back`);
    expect((await drops(api.url))['log_lost']).toBeUndefined();
    expect(worker.output() + api.output()).not.toMatch(/lost events it had acknowledged/);
  }, 90_000);

  it('a Redis that stops answering: publish is a 503 within its timeout, and works again once Redis answers', async () => {
    const redis = await ownRedis(true);
    const log = await createRedisStreams(
      {
        url: redis.url,
        stream: `stall-${randomUUID().slice(0, 8)}`,
        group: 'tally-aggregator',
        reclaimIdleMs: 5000,
        maxPendingBytes: 1 << 20,
        publishTimeoutMs: 400,
      },
      testLog,
    );
    cleanups.push(() => log.close());
    await log.publish([ev()]);
    redis.pause(true);
    const t0 = Date.now();
    const err = (await log.publish([ev()]).then(
      () => undefined,
      (e: unknown) => e,
    )) as { statusCode?: number; retryAfterS?: number } | undefined;
    const tookMs = Date.now() - t0;
    redis.pause(false);
    expect(err?.statusCode).toBe(503);
    expect(tookMs).toBeGreaterThanOrEqual(380);
    expect(tookMs).toBeLessThan(2000);
    await waitFor(
      () =>
        log.publish([ev()]).then(
          () => true,
          () => false,
        ),
      5000,
    );
  });

  it('refuses a Redis without AOF by default; when allowed, a restart that lost events is reported', async () => {
    const redis = await ownRedis(false);
    const db = await database();
    const env = redisEnv(redis.url, db.url);
    const refused = await startChild(env, ['api']).then(
      (c) => {
        c.proc.kill('SIGKILL');
        return '';
      },
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/appendonly no.*REDIS_ALLOW_NO_PERSISTENCE=true/s);

    const allowed = { ...env, REDIS_ALLOW_NO_PERSISTENCE: 'true' };
    const { proxy, url: viaProxy } = await proxied(db.url);
    // One entry per batch, one batch at a time: cut off, the worker holds one entry, no more.
    const worker = await tally(
      { ...allowed, DATABASE_URL: viaProxy, AGG_BATCH_MAX_EVENTS: '10', AGG_CONCURRENCY: '1' },
      'worker',
    );
    const api = await tally(allowed, 'api');
    const inProcess = await createRedisStreams(
      {
        url: redis.url,
        stream: allowed.REDIS_STREAM,
        group: 'tally-aggregator',
        reclaimIdleMs: 5000,
        maxPendingBytes: 1 << 20,
        allowNoPersistence: true,
      },
      testLog,
    );
    cleanups.push(() => inProcess.close());
    const site = `noaof-${randomUUID().slice(0, 8)}`;
    expect(await post(api.url, events(site, 'counted', 20))).toBe(202);
    await countsExactly(api.url, site, 20);

    await proxy.down();
    for (let n = 0; n < 30; n++) {
      expect(await post(api.url, events(site, `lost-${n}`, 10))).toBe(202);
    }
    await inProcess.publish([ev()]);
    await sleep(1500); // the backlog is read every second
    await redis.kill9();
    await redis.start();
    await proxy.up();

    await waitFor(() => (inProcess.stats().lost?.incidents ?? 0) > 0, 10_000);
    expect(inProcess.stats().lost).toMatchObject({ incidents: 1 });
    await waitFor(async () => (await drops(api.url))['log_lost'] !== undefined, 20_000);
    const lost = (await drops(api.url))['log_lost']!;
    expect(lost).toBeGreaterThanOrEqual(1);
    expect(worker.output()).toMatch(/"level":50.*the log lost events it had acknowledged/);
    expect(api.output()).toMatch(/"level":50.*the log lost events it had acknowledged/);
    const health = (await (await fetch(`${api.url}/health`)).json()) as {
      log_lost: { incidents: number; reason?: string };
    };
    expect(health.log_lost.incidents).toBe(1);
    expect(health.log_lost.reason).toMatch(/^redis: the dataset was lost/);
    // Reported once, by the one worker, however many processes found it.
    await sleep(2000);
    expect((await drops(api.url))['log_lost']).toBe(lost);
    // What was counted stays counted, and so is what the worker held when Redis forgot it; the
    // log takes events again. The estimate is the rest: 31 entries unacknowledged, less those held.
    expect(await post(api.url, events(site, 'after', 5))).toBe(202);
    await waitFor(async () => (await views(api.url, site)) >= 25, 20_000);
    await sleep(6000); // the held batch commits once the worker's retry finds the database
    const held = ((await views(api.url, site)) - 25) / 10;
    expect(Number.isInteger(held)).toBe(true);
    const warnings = worker.output().match(/XACK failed|reclaimed entries|lost events[^"]*"/g) ?? [];
    expect(lost + held, `lost ${lost}, held ${held}; worker: ${warnings.join('; ')}`).toBe(31);
    console.log(`log_lost ${lost} entries of 10 events; ${held} held by the worker and counted`);
  }, 90_000);

  it('entries read together and waiting for a free slot are held, not lost, when Redis forgets them', async () => {
    const redis = await ownRedis(false);
    const log = await createRedisStreams(
      {
        url: redis.url,
        stream: `held-${randomUUID().slice(0, 8)}`,
        group: 'tally-aggregator',
        reclaimIdleMs: 5000,
        maxPendingBytes: 1 << 20,
        allowNoPersistence: true,
      },
      testLog,
    );
    cleanups.push(() => log.close());
    // Five entries of five events; batches of five, one at a time: one read takes all five
    // entries, the first batch is in the handler and four wait for its slot.
    for (let n = 0; n < 5; n++) {
      await log.publish(Array.from({ length: 5 }, () => ev({ site_id: 'held' })));
    }
    let open!: () => void;
    const cut = new Promise<void>((r) => (open = r));
    let calls = 0;
    const handled: string[] = [];
    void log.consume(
      async (b) => {
        if (calls++ === 0) {
          await cut;
        }
        handled.push(...b.events.map((e) => e.event_id));
      },
      { maxBatchEvents: 5, maxWaitMs: 0, concurrency: 1 },
    );
    await waitFor(() => calls === 1, 5000);
    await sleep(1500); // the backlog is read every second: it has seen the five entries pending
    await redis.kill9();
    await redis.start();
    await waitFor(() => (log.stats().lost?.incidents ?? 0) > 0, 10_000);
    // All five were in this consumer's hands: nothing lost (it was 4 while the four waiting
    // for a slot were left out of what it held).
    expect(log.stats().lost).toMatchObject({ incidents: 1, events: 0 });
    open();
    await waitFor(() => handled.length === 25, 10_000);
    expect(new Set(handled).size).toBe(25);
  }, 60_000);

  it('a stream entry that is not JSON becomes a dead letter; the rest is counted', async () => {
    const redis = await ownRedis(true);
    const db = await database();
    const env = redisEnv(redis.url, db.url);
    await tally(env, 'worker');
    const api = await tally(env, 'api');
    const site = `undecodable-${randomUUID().slice(0, 8)}`;
    expect(await post(api.url, events(site, 'a', 7))).toBe(202);
    const c = createClient({ url: redis.url });
    await c.connect();
    await c.sendCommand(['XADD', env.REDIS_STREAM, '*', 'e', '{not json']);
    await c.sendCommand(['XADD', env.REDIS_STREAM, '*', 'e', '{"an":"object"}']);
    await c.close();
    expect(await post(api.url, events(site, 'b', 5))).toBe(202);
    await countsExactly(api.url, site, 12);
    const dead = (await (await fetch(`${api.url}/v1/dead-letters`)).json()) as {
      total: number;
      items: { reason: string; payload: string }[];
    };
    expect(dead.total).toBe(2);
    expect(dead.items.map((i) => i.reason).sort()).toEqual([
      expect.stringMatching(/^undecodable log entry: not JSON/),
      expect.stringMatching(/^undecodable log entry: not an array of events/),
    ]);
    expect(dead.items.map((i) => i.payload)).toContain(JSON.stringify('{not json'));
    expect((await drops(api.url))['dead_letter']).toBe(2);
  }, 60_000);

  it("a killed worker's pending entries are counted within 10 s; a live stuck worker's are not taken", async () => {
    const redis = await ownRedis(true);
    const db = await database();
    const env = redisEnv(redis.url, db.url);
    // One batch at a time: a stuck worker reads nothing more. Each has its own cut database.
    const stuck = { ...env, AGG_CONCURRENCY: '1' };
    const [slowDb, doomedDb] = [await proxied(db.url), await proxied(db.url)];
    const api = await tally(env, 'api');
    const site = `takeover-${randomUUID().slice(0, 8)}`;
    const c = createClient({ url: redis.url });
    await c.connect();
    cleanups.push(() => c.close());
    const pendingOf = async () => {
      const [, , , owners] = await c.sendCommand<[number, string, string, [string, string][]]>([
        'XPENDING',
        env.REDIS_STREAM,
        'tally-aggregator',
      ]);
      return Object.fromEntries((owners ?? []).map(([name, n]) => [name, Number(n)]));
    };

    const slow = await tally({ ...stuck, DATABASE_URL: slowDb.url }, 'worker');
    await slowDb.proxy.down();
    expect(await post(api.url, events(site, 'slow', 40))).toBe(202);
    await waitFor(async () => Object.keys(await pendingOf()).length === 1, 10_000);
    const [slowName] = Object.keys(await pendingOf());

    const doomed = await tally({ ...stuck, DATABASE_URL: doomedDb.url }, 'worker');
    await doomedDb.proxy.down();
    expect(await post(api.url, events(site, 'doomed', 30))).toBe(202);
    await waitFor(async () => Object.keys(await pendingOf()).length === 2, 10_000);
    doomed.proc.kill('SIGKILL');
    const killedAt = Date.now();

    await tally(env, 'worker');
    expect(await post(api.url, events(site, 'live', 20))).toBe(202);
    await waitFor(async () => (await views(api.url, site)) >= 50, 15_000, { intervalMs: 50 });
    const takenOverMs = Date.now() - killedAt;
    expect(takenOverMs).toBeLessThan(10_000);
    console.log(`a killed worker's pending entries were counted ${takenOverMs} ms after the kill`);
    // The live worker, stuck on its database for longer than a takeover takes, keeps its entries.
    await sleep(Math.max(0, 12_000 - takenOverMs));
    expect(await pendingOf()).toEqual({ [slowName!]: 1 });
    expect(await views(api.url, site)).toBe(50);
    await slowDb.proxy.up();
    await countsExactly(api.url, site, 90);
    expect(slow.output()).not.toMatch(/lost events/);
  }, 90_000);
});
