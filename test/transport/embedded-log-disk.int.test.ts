/**
 * The embedded log on a small volume, through a real `tally serve` whose DATA_DIR is a 64 MiB
 * tmpfs this file mounts (as root; CI runs as root). Real: the process, its HTTP API, the file
 * system running out of space (a filler file), a record written into a segment of a stopped
 * Tally. Nothing is mocked. A second part opens the log in this process on an 8 MiB tmpfs, to
 * see its zero-filled segments given back and made again.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  cpSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  statfsSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { CanonicalEvent } from '../../src/events/event.js';
import { createEmbeddedLog } from '../../src/transport/embedded-log/embedded-log.js';
import { encodeRecord, scanSegment } from '../../src/transport/embedded-log/segment-files.js';
import { stopChild } from '../harness/spawn.js';
import { startChild, type Child } from '../helpers/child.js';
import { canMountTmpfs, mountTmpfs } from '../harness/tmpfs.js';
import { requireService } from '../helpers/services.js';
import { today, waitFor } from '../helpers/server.js';

const MiB = 1024 * 1024;
/** LOG_DISK_RESERVE_BYTES's default. */
const RESERVE = 16 * MiB;
const SITE = 'disk';

const runs = requireService(
  'a 64 MiB tmpfs for DATA_DIR',
  canMountTmpfs(),
  'the test mounts one with `mount -t tmpfs`: run it as root',
);

/** Mounts a tmpfs of `size` on a new directory; returns it. */
function mountedTmpfs(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tally-disk-'));
  mountTmpfs(dir, size);
  return dir;
}

function unmount(dir: string): void {
  execFileSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
}

/** Writes a file of ones until `leave` bytes are free on `dir`'s volume. */
function fillUntil(dir: string, leave: number, name = 'filler'): string {
  const filler = join(dir, name);
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(MiB, 1);
  for (let left = free(dir) - leave; left > 0; left -= chunk.length) {
    writeSync(fd, chunk, 0, Math.min(left, chunk.length));
  }
  closeSync(fd);
  return filler;
}

const free = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};
const logFiles = (dir: string, sub = 'log') => readdirSync(join(dir, sub));
const segmentBytes = (dir: string, sub = 'log') =>
  logFiles(dir, sub)
    .filter((f) => f.endsWith('.log'))
    // A segment listed may be deleted (consumed) before it is looked at: it holds nothing then.
    .reduce((n, f) => n + (statSync(join(dir, sub, f), { throwIfNoEntry: false })?.size ?? 0), 0);

let batchNo = 0;
const batch = (n = 200) => {
  const b = batchNo++;
  return Array.from({ length: n }, (_, i) => ({
    event_id: `disk-${b}-${i}`,
    type: 'page_view',
    site_id: SITE,
    path: `/p/${i % 20}`,
  }));
};

describe.runIf(runs)('embedded log on a 64 MiB volume', () => {
  let mnt = '';
  let child: Child | undefined;
  /** Events answered 202: what /v1/stats must count, exactly. */
  let acked = 0;

  beforeAll(() => {
    mnt = mountedTmpfs('64m');
    // The migrated embedded database, as every test's data directory starts (test/helpers/server.ts).
    cpSync(inject('pgTemplate'), join(mnt, 'pg'), { recursive: true });
  });
  afterAll(async () => {
    if (child) {
      child.proc.kill('SIGKILL');
      await child.exited;
    }
    unmount(mnt);
  });

  const post = (events: unknown[]) =>
    fetch(`${child!.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
  const counted = async () => {
    const r = await fetch(`${child!.url}/v1/stats?site_id=${SITE}&date=${today()}`);
    return ((await r.json()) as { total_events: number }).total_events;
  };
  /** Waits until /v1/stats counts `n`, and checks it still does a moment later (none doubled). */
  const expectCounted = async (n: number) => {
    await waitFor(async () => (await counted()) >= n, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(await counted()).toBe(n);
  };

  it('starts and ingests with the default 64 MiB segments: nothing is made ahead', async () => {
    child = await startChild({ DATA_DIR: mnt });
    for (let i = 0; i < 5; i++) {
      const r = await post(batch());
      expect(r.status).toBe(202);
      acked += 200;
    }
    await expectCounted(acked);
    // A zero-filled 64 MiB spare would not fit with the reserve kept: segments grow by appending.
    expect(logFiles(mnt)).not.toContain('spare.tmp');
    expect(segmentBytes(mnt)).toBeLessThan(MiB);
    expect(free(mnt)).toBeGreaterThan(RESERVE);
  });

  it('refuses with 503 and Retry-After below the reserve, frees its segments, and takes ingest again once space is back', async () => {
    // Leaves 4 MiB less than the reserve free: the database keeps room, the log must refuse.
    const filler = fillUntil(mnt, RESERVE - 4 * MiB);

    // Publishes are taken until the log's next free-space check (at most a second).
    let refused: Response | undefined;
    let refusedBatch: unknown[] = [];
    await waitFor(
      async () => {
        const events = batch();
        const r = await post(events);
        if (r.status === 202) {
          acked += events.length;
          return false;
        }
        refused = r;
        refusedBatch = events;
        return true;
      },
      5000,
      { intervalMs: 50 },
    );
    expect(refused!.status).toBe(503);
    expect(refused!.headers.get('retry-after')).toBe('5');
    expect(await refused!.json()).toEqual({
      error: { code: 'LOG_UNAVAILABLE', message: expect.stringMatching(/nearly full/) },
    });

    const health = (await (await fetch(`${child!.url}/health`)).json()) as {
      dependencies: { log: unknown };
    };
    expect(health.dependencies.log).toMatchObject({
      status: 'up',
      writable: false,
      reason: expect.stringMatching(/^the disk holding the event log is nearly full/),
    });
    const ready = await fetch(`${child!.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, log_writable: false });
    // Consumed, the segment appended to is rolled away and deleted: the log holds nothing.
    await waitFor(() => segmentBytes(mnt) === 0, 10_000);
    expect((await post(refusedBatch)).status).toBe(503);

    rmSync(filler);
    await waitFor(
      async () => {
        const r = await post(refusedBatch);
        await r.arrayBuffer();
        return r.status === 202;
      },
      5000,
      { intervalMs: 50 },
    );
    acked += refusedBatch.length;
    expect((await post(batch())).status).toBe(202);
    acked += 200;
    const healthy = (await (await fetch(`${child!.url}/health`)).json()) as {
      dependencies: { log: { writable: boolean; reason?: string } };
    };
    expect(healthy.dependencies.log.writable).toBe(true);
    expect(healthy.dependencies.log.reason).toBeUndefined();

    // Every event that got 202 is counted once; none of the refused ones is.
    await expectCounted(acked);
  });

  it('dead-letters a record that is intact but does not decode, and counts the events around it', async () => {
    expect(await stopChild(child!)).toBe(0);
    const dir = join(mnt, 'log');
    const active = readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .sort()
      .at(-1)!;
    const fh = await open(join(dir, active), 'r+');
    const { validBytes } = await scanSegment(fh);
    const good = [
      {
        event_id: 'disk-around',
        type: 'page_view',
        ts: Date.now(),
        received_at: Date.now(),
        site_id: SITE,
        path: '/',
      },
    ];
    const recs = Buffer.concat([
      encodeRecord(Buffer.from('{"not json'), 1),
      encodeRecord(Buffer.from('{"event_id":"x"}'), 1),
      encodeRecord(Buffer.from(JSON.stringify(good)), 1),
    ]);
    await fh.write(recs, 0, recs.length, validBytes);
    await fh.close();

    child = await startChild({ DATA_DIR: mnt });
    acked += 1;
    await expectCounted(acked);
    const letters = (await (
      await fetch(`${child.url}/v1/dead-letters?reason=undecodable&limit=10`)
    ).json()) as { total: number; items: { reason: string; payload: string }[] };
    expect(letters.total).toBe(2);
    expect(letters.items.map((d) => [d.reason.split(';')[0], d.payload]).sort()).toEqual([
      [expect.stringMatching(/^undecodable log entry: not JSON/), '"{\\"not json"'],
      ['undecodable log entry: not an array of events (object)', '"{\\"event_id\\":\\"x\\"}"'],
    ]);
  });
});

describe.runIf(runs)('embedded log segments made ahead, on an 8 MiB volume', () => {
  let mnt = '';
  beforeAll(() => {
    mnt = mountedTmpfs('8m');
  });
  afterAll(() => unmount(mnt));

  const ev = (id: string): CanonicalEvent => ({
    event_id: id,
    type: 'page_view',
    ts: 1,
    received_at: 1,
    site_id: 's',
    path: `/${'x'.repeat(200)}`,
  });

  it('gives the spare and the zeros made ahead back below the reserve, and makes them again once space is back', async () => {
    const dir = join(mnt, 'log');
    const t = await createEmbeddedLog(
      {
        dir,
        segmentBytes: MiB,
        maxPendingBytes: 16 * MiB,
        maxUnconsumedBytes: 64 * MiB,
        diskReserveBytes: 2 * MiB,
      },
      pino({ level: 'silent' }),
    );
    const got: string[] = [];
    const consuming = t.consume(
      async (b) => {
        got.push(...b.events.map((e) => e.event_id));
      },
      { maxBatchEvents: 1000 },
    );
    try {
      const sent: string[] = [];
      const send = async () => {
        const id = `m${sent.length}`;
        await t.publish([ev(id)]);
        sent.push(id);
      };
      // With room, the log rolls onto a zero-filled segment and makes the next spare.
      await vi.waitFor(
        async () => {
          await send();
          expect(logFiles(mnt, 'log').filter((f) => f.endsWith('.log')).length).toBeGreaterThan(1);
          expect(segmentBytes(mnt, 'log')).toBeGreaterThanOrEqual(MiB);
          expect(logFiles(mnt, 'log')).toContain('spare.tmp');
        },
        { timeout: 5000, interval: 20 },
      );

      // Below the reserve, the log gives back what it holds beyond its records: the spare, the
      // zeros made ahead, the consumed records (rolled away and deleted). That alone may be room
      // enough again; a second filler takes it.
      const fillers = [fillUntil(mnt, MiB, 'filler-1')];
      await vi.waitFor(
        () => {
          expect(logFiles(mnt, 'log')).not.toContain('spare.tmp');
          expect(segmentBytes(mnt, 'log')).toBe(0);
        },
        { timeout: 5000, interval: 50 },
      );
      fillers.push(fillUntil(mnt, MiB, 'filler-2'));
      await vi.waitFor(
        async () => {
          await expect(send()).rejects.toMatchObject({
            statusCode: 503,
            code: 'LOG_UNAVAILABLE',
            retryAfterS: 5,
            message: expect.stringMatching(/nearly full/),
          });
          expect(t.stats()).toMatchObject({
            state: 'up',
            writable: false,
            reason: expect.stringMatching(/^the disk holding the event log is nearly full/),
          });
        },
        { timeout: 5000, interval: 50 },
      );

      fillers.forEach((f) => rmSync(f));
      await vi.waitFor(send, { timeout: 5000, interval: 50 });
      expect(t.stats()).toMatchObject({ state: 'up', writable: true });
      expect(t.stats().reason).toBeUndefined();
      await vi.waitFor(() => expect(logFiles(mnt, 'log')).toContain('spare.tmp'), {
        timeout: 5000,
      });
      await vi.waitFor(() => expect(got).toHaveLength(sent.length), { timeout: 5000 });
      expect(got).toEqual(sent);
    } finally {
      await t.stopConsuming();
      await consuming;
      await t.close();
    }
  });
});
