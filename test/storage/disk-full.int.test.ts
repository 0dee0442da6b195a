/**
 * The embedded database on a full disk, through a real `tally serve` whose DATA_DIR/pg is a
 * tmpfs this file mounts (as root; CI runs as root), while DATA_DIR/log stays on the ordinary
 * disk: the database's writes are what fail, the log keeps acknowledging. Real: the process,
 * its HTTP API, the file system running out of space (a filler file). Nothing mocked.
 *
 * Filled while events flow: storage cannot write, /health and /ready say so, reports answer or
 * 503 in the documented body; the filler removed, the database recovers by itself and every
 * acknowledged event counts exactly once. Then a SIGTERM while full (exits 0 at once) and a
 * restart on the same full volume. Last, a PostgreSQL PANIC (the WAL cannot grow), caused
 * through an in-process server: the database is reopened by itself and replays its WAL; or,
 * restarted while still full, it refuses to start saying so, and starts once space is back.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { sleep, waitFor } from '../harness/ready.js';
import { spawnTally, stopChild } from '../harness/spawn.js';
import { startChild, type Child } from '../helpers/child.js';
import { canMountTmpfs, mountTmpfs } from '../harness/tmpfs.js';
import { requireService } from '../helpers/services.js';
import { startServer, today } from '../helpers/server.js';

const SITE = 'diskfull';
const PER_BATCH = 50;

const runs = requireService(
  'a tmpfs for DATA_DIR/pg',
  canMountTmpfs(),
  'the test mounts one with `mount -t tmpfs`: run it as root',
);

const dataDir = mkdtempSync(join(tmpdir(), 'tally-diskfull-'));
const pgDir = join(dataDir, 'pg');
const filler = join(pgDir, 'filler');
let child: Child | undefined;
let mounted = false;

afterAll(() => {
  child?.proc.kill('SIGKILL');
  if (mounted) {
    execFileSync('umount', ['-l', pgDir]);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** Takes every free block of the database's volume (the database may be growing meanwhile). */
function fill(dir = pgDir, file = filler): void {
  rmSync(file, { force: true });
  const s = statfsSync(dir);
  execFileSync('fallocate', ['-l', String(Math.max(0, s.bavail * s.bsize - 1024 * 1024)), file]);
  const fd = openSync(file, 'a');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) {
      writeSync(fd, block);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') {
      throw err;
    }
  } finally {
    closeSync(fd);
  }
}

const getJson = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};

const batch = (n: number) =>
  Array.from({ length: PER_BATCH }, (_, i) => ({
    event_id: `df-${n}-${i}`,
    type: 'page_view',
    site_id: SITE,
    path: `/b${n}`,
    user_id: `u${i}`,
  }));

/** Whether `batch(n)` got a 202. */
async function post(url: string, n: number): Promise<boolean> {
  try {
    const r = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(batch(n)),
    });
    await r.arrayBuffer();
    return r.status === 202;
  } catch {
    return false;
  }
}

let nextBatch = 0;
/** Sends new batches until stopped; keeps which got a 202 and which did not. */
function sender(url: string) {
  let acked = 0;
  const unacked: number[] = [];
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const n = nextBatch++;
      if (await post(url, n)) {
        acked++;
      } else {
        unacked.push(n);
      }
      await sleep(10);
    }
  })();
  return {
    acked: () => acked,
    unacked,
    async stop() {
      stop = true;
      await loop;
    },
  };
}

async function drained(url: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const h = (await getJson(`${url}/health`)).body;
      return h.dependencies.log.waiting === 0 && h.dependencies.log.bytes === 0;
    },
    timeoutMs,
    { intervalMs: 100, failure: () => new Error(`the log did not drain:\n${child?.output()}`) },
  );
}

/**
 * The views counted, when no batch was counted twice (each batch has a path of its own: one
 * counted twice would be the top path with twice the views); undefined otherwise.
 */
const views = async (url: string) => {
  const r = await getJson(`${url}/v1/stats?site_id=${SITE}&date=${today()}&top=1`);
  const top = r.body.top_paths as { views: number }[];
  return top.every((p) => p.views === PER_BATCH) ? (r.body.total_views as number) : undefined;
};

describe.skipIf(!runs)('embedded database on a full disk', () => {
  it('says so in /health and /ready, recovers by itself once space is back, counts exactly', async () => {
    mkdirSync(pgDir);
    mountTmpfs(pgDir, '80m');
    mounted = true;
    cpSync(inject('pgTemplate'), pgDir, { recursive: true });
    child = await startChild({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    const url = child.url;
    const send = sender(url);
    await waitFor(() => send.acked() >= 20, 30_000);

    fill();
    const filledAt = Date.now();
    await waitFor(
      async () => (await getJson(`${url}/health`)).body.dependencies.storage.writable === false,
      60_000,
      { intervalMs: 200, failure: () => new Error(`storage kept writing:\n${child?.output()}`) },
    );
    console.log(`storage not writable ${Date.now() - filledAt} ms after the disk filled`);
    const health = await getJson(`${url}/health`);
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({
      ok: false,
      status: 'unhealthy',
      dependencies: { storage: { writable: false }, log: { status: 'up', writable: true } },
    });
    expect(health.body.dependencies.storage.reason).toMatch(/space|reopening|broke/);
    const ready = await getJson(`${url}/ready`);
    expect(ready).toMatchObject({ status: 503, body: { ready: false, storage_writable: false } });
    // Reports answer from what is committed, or 503 in the documented error body.
    const report = await getJson(`${url}/v1/stats?site_id=${SITE}&date=${today()}`);
    if (report.status !== 200) {
      expect(report).toMatchObject({
        status: 503,
        body: { error: { code: 'STORAGE_UNAVAILABLE', message: expect.any(String) } },
      });
    }
    // The log still takes events while storage cannot.
    const before = send.acked();
    await waitFor(() => send.acked() >= before + 10, 20_000);

    rmSync(filler);
    const freedAt = Date.now();
    await waitFor(async () => (await getJson(`${url}/ready`)).status === 200, 30_000, {
      intervalMs: 100,
      failure: () => new Error(`not ready again after space came back:\n${child?.output()}`),
    });
    const recoveredMs = Date.now() - freedAt;
    console.log(
      `ready again ${recoveredMs} ms after space came back; reopened: ${/open again/.test(child.output())}`,
    );
    expect(recoveredMs).toBeLessThan(15_000);

    await send.stop();
    expect(send.unacked).toEqual([]);
    await drained(url);
    expect(await views(url)).toBe(nextBatch * PER_BATCH);
    expect((await getJson(`${url}/health`)).body).toMatchObject({
      ok: true,
      dependencies: { storage: { writable: true }, consumer: { status: 'up' } },
    });
  }, 120_000);

  it('SIGTERM on a full disk exits 0 at once; restarted on the same full volume: not ready until space is back, then every event counts once', async () => {
    const url = child!.url;
    const send = sender(url);
    await waitFor(() => send.acked() >= 10, 30_000);
    fill();
    await waitFor(
      async () => (await getJson(`${url}/health`)).body.dependencies.storage.writable === false,
      60_000,
      { intervalMs: 200 },
    );
    await sleep(500);
    // Nothing can be drained into storage: what is in the log stays there for the next start.
    const stopAt = Date.now();
    expect(await stopChild(child!), child!.output().slice(-3000)).toBe(0);
    const stopMs = Date.now() - stopAt;
    console.log(`SIGTERM on the full disk: exited 0 after ${stopMs} ms`);
    expect(stopMs).toBeLessThan(8_000);
    await send.stop();

    // Started again while the volume is full (a clean shutdown may have freed WAL: taken too).
    fill();
    const port = new URL(url).port;
    const again = spawnTally(['serve'], {
      env: { DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: port, LOG_LEVEL: 'info' },
    });
    child = { ...again, url };
    let exited: number | null | undefined;
    void again.exited.then((code) => (exited = code));
    const ready = async () =>
      fetch(`${url}/ready`).then(
        (r) => r.status,
        () => undefined,
      );
    await waitFor(async () => exited !== undefined || (await ready()) !== undefined, 60_000);
    if (exited === undefined) {
      // Open. Not ready while it cannot write; ready only if it found room itself (a start
      // removes WAL segments a checkpoint no longer needs).
      const r = await getJson(`${url}/ready`);
      const free = statfsSync(pgDir).bavail * statfsSync(pgDir).bsize;
      console.log(`restarted on the full volume: /ready ${r.status}, ${free} bytes free`);
      if (r.status === 200) {
        expect(free).toBeGreaterThanOrEqual(1024 * 1024);
      } else {
        expect(r).toMatchObject({ status: 503, body: { ready: false, storage_writable: false } });
      }
      rmSync(filler);
      await waitFor(async () => (await ready()) === 200, 30_000, {
        failure: () => new Error(`not ready after space came back:\n${again.output()}`),
      });
    } else {
      // PostgreSQL could not even replay its WAL: a clear message, and the next start works.
      expect(exited).not.toBe(0);
      expect(again.output()).toMatch(/embedded database .* did not open/);
      console.log(`restarted on the full volume: exited ${exited}, started again once freed`);
      rmSync(filler);
      child = await startChild({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    }
    // What got no 202 is sent again, with the same ids, as a client would.
    for (const n of send.unacked) {
      expect(await post(child.url, n)).toBe(true);
    }
    await drained(child.url);
    expect(await views(child.url)).toBe(nextBatch * PER_BATCH);
    expect(await stopChild(child)).toBe(0);
  }, 120_000);

  it('a PANIC (the WAL cannot grow): calls fail at once with 503, the database reopens by itself once space is back, counts exactly', async () => {
    // Its own volume and an in-process server, so that the test can make PostgreSQL write WAL.
    const dir = mkdtempSync(join(tmpdir(), 'tally-panic-'));
    const pg = join(dir, 'pg');
    mkdirSync(pg);
    mountTmpfs(pg, '80m');
    try {
      cpSync(inject('pgTemplate'), pg, { recursive: true });
      const server = await startServer({ LOG_LEVEL: 'silent' }, dir);
      const { db } = server.running;
      const first = nextBatch;
      for (let n = 0; n < 20; n++) {
        expect(await post(server.url, nextBatch++)).toBe(true);
      }
      fill(pg, join(pg, 'filler'));
      // WAL only, no table: it runs to the end of its segment, cannot create the next one, and
      // PostgreSQL panics; PGlite's instance then fails every query, even once space is back.
      let panic: unknown;
      for (let i = 0; i < 64 && panic === undefined; i++) {
        await db
          .query("SELECT pg_logical_emit_message(false, 'fill', repeat('x', 1000000))")
          .catch((err: unknown) => (panic = err));
      }
      expect(panic).toBeDefined();
      await expect(db.query('SELECT 1')).rejects.toMatchObject({
        code: 'STORAGE_UNAVAILABLE',
        statusCode: 503,
      });
      expect(db.writeState().writable).toBe(false);
      for (let n = 0; n < 5; n++) {
        expect(await post(server.url, nextBatch++)).toBe(true);
      }
      expect(await getJson(`${server.url}/ready`)).toMatchObject({
        status: 503,
        body: { storage_writable: false },
      });
      const report = await getJson(`${server.url}/v1/stats?site_id=${SITE}&date=${today()}`);
      expect(report).toMatchObject({
        status: 503,
        body: {
          error: { code: 'STORAGE_UNAVAILABLE', message: expect.stringMatching(/reopening/) },
        },
      });

      rmSync(join(pg, 'filler'));
      const freedAt = Date.now();
      await waitFor(async () => (await getJson(`${server.url}/ready`)).status === 200, 30_000);
      console.log(`PANIC: ready again ${Date.now() - freedAt} ms after space came back`);
      expect(db.reopens()).toBeGreaterThanOrEqual(1);
      await waitFor(() => server.running.transport.stats().waiting === 0, 30_000);
      expect(await views(server.url)).toBe((nextBatch - first) * PER_BATCH);
      await server.close({ keepData: true });
    } finally {
      execFileSync('umount', ['-l', pg]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('after a PANIC, a restart on the still-full volume fails saying so; once freed it starts and counts exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tally-panic-'));
    const pg = join(dir, 'pg');
    mkdirSync(pg);
    mountTmpfs(pg, '80m');
    try {
      cpSync(inject('pgTemplate'), pg, { recursive: true });
      let server = await startServer({ LOG_LEVEL: 'silent' }, dir);
      const first = nextBatch;
      for (let n = 0; n < 20; n++) {
        expect(await post(server.url, nextBatch++)).toBe(true);
      }
      fill(pg, join(pg, 'filler'));
      let panic: unknown;
      for (let i = 0; i < 64 && panic === undefined; i++) {
        await server.running.db
          .query("SELECT pg_logical_emit_message(false, 'fill', repeat('x', 1000000))")
          .catch((err: unknown) => (panic = err));
      }
      expect(panic).toBeDefined();
      for (let n = 0; n < 5; n++) {
        expect(await post(server.url, nextBatch++)).toBe(true);
      }
      const stopAt = Date.now();
      await server.close({ keepData: true });
      expect(Date.now() - stopAt).toBeLessThan(8_000);

      // PostgreSQL must replay its WAL and cannot write: it does not open, and says why.
      await expect(startServer({ LOG_LEVEL: 'silent' }, dir)).rejects.toThrow(
        /embedded database .* did not open: .*KiB free on its volume/s,
      );
      rmSync(join(pg, 'filler'));
      server = await startServer({ LOG_LEVEL: 'silent' }, dir);
      await waitFor(() => server.running.transport.stats().bytes === 0, 30_000);
      expect(await views(server.url)).toBe((nextBatch - first) * PER_BATCH);
      await server.close({ keepData: true });
    } finally {
      execFileSync('umount', ['-l', pg]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
