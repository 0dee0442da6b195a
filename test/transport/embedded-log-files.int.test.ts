import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { CanonicalEvent } from '../../src/events/event.js';
import {
  createEmbeddedLog,
  type EmbeddedLogOptions,
} from '../../src/transport/embedded-log/embedded-log.js';
import { LOCK_WAIT_MS } from '../../src/transport/embedded-log/dir-lock.js';
import { encodeRecord, scanSegment } from '../../src/transport/embedded-log/segment-files.js';
import type { Batch, Transport } from '../../src/transport/transport.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'tally-log-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) {
    rmSync(d, { recursive: true, force: true });
  }
});
const segmentFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort();
const opts = (dir: string, o: Partial<EmbeddedLogOptions> = {}): EmbeddedLogOptions => ({
  dir,
  segmentBytes: 16 * 1024,
  maxPendingBytes: 16 * 1024 * 1024,
  maxUnconsumedBytes: 64 * 1024 * 1024,
  ...o,
});
const ev = (id: string, extra: Partial<CanonicalEvent> = {}): CanonicalEvent => ({
  event_id: id,
  type: 'page_view',
  ts: 1,
  received_at: 1,
  site_id: 's',
  path: `/${'x'.repeat(100)}`,
  ...extra,
});

/** Consumes until `n` events arrived; returns them and the last checkpoint. */
async function take(t: Transport, n: number, checkpoint?: string, maxBatchEvents = 1000) {
  const got: CanonicalEvent[] = [];
  let last: Batch['checkpoint'];
  let stop!: () => void;
  const done = new Promise<void>((r) => (stop = r));
  const consuming = t.consume(
    async (b) => {
      got.push(...b.events);
      last = b.checkpoint;
      if (got.length >= n) {
        stop();
      }
    },
    { checkpoint, maxBatchEvents },
  );
  await done;
  await t.stopConsuming();
  await consuming;
  return { got, checkpoint: last?.position };
}

describe('embedded log', () => {
  it('group-commits concurrent publishes and delivers every event in order', async () => {
    const t = await createEmbeddedLog(opts(newDir()), log);
    await Promise.all(Array.from({ length: 200 }, (_, i) => t.publish([ev(`e${i}`)])));
    const { got } = await take(t, 200);
    expect(got.map((e) => e.event_id)).toEqual(Array.from({ length: 200 }, (_, i) => `e${i}`));
    await t.close();
  });

  it('reads the next full batch ahead and hands it to prepare before the current one is applied; the position moves only on acks', async () => {
    const dir = newDir();
    let t = await createEmbeddedLog(opts(dir), log);
    for (let i = 0; i < 30; i++) {
      await t.publish(Array.from({ length: 10 }, (_, j) => ev(`a${i}-${j}`)));
    }
    const order: string[] = [];
    const prepared = new Set<Batch>();
    const handled: Batch[] = [];
    let failOnce = true;
    let stop!: () => void;
    const done = new Promise<void>((r) => (stop = r));
    const consuming = t.consume(
      async (b) => {
        order.push(`apply ${b.events[0]!.event_id}`);
        // Slow, as a transaction is.
        await new Promise((r) => setTimeout(r, 20));
        if (handled.length === 2 && failOnce) {
          failOnce = false;
          throw new Error('storage hiccup');
        }
        handled.push(b);
        if (handled.length === 4) {
          stop();
        }
      },
      {
        maxBatchEvents: 50,
        prepare: (b) => {
          order.push(`prepare ${b.events[0]!.event_id}`);
          prepared.add(b);
        },
      },
    );
    await done;
    await t.stopConsuming();
    await consuming;
    await t.close();
    // Batches 2-4 were read ahead and handed to prepare while the one before them was with the
    // handler, and handed over as the very objects prepared; a batch redelivered after a failure
    // is not read again.
    expect(order.slice(0, 4)).toEqual([
      'apply a0-0',
      'prepare a5-0',
      'apply a5-0',
      'prepare a10-0',
    ]);
    expect(handled.map((b) => b.events[0]!.event_id)).toEqual(['a0-0', 'a5-0', 'a10-0', 'a15-0']);
    expect(handled.slice(1).every((b) => prepared.has(b))).toBe(true);
    expect(handled.every((b) => b.events.length === 50)).toBe(true);
    // The last batch read ahead was never acknowledged: the log resumes after the fourth.
    t = await createEmbeddedLog(opts(dir), log);
    const rest = await take(t, 100, handled[3]!.checkpoint!.position);
    expect(rest.got[0]!.event_id).toBe('a20-0');
    expect(rest.got).toHaveLength(100);
    await t.close();
  });

  it('replays from the committed position after a reopen, and deletes consumed segments', async () => {
    const dir = newDir();
    let t = await createEmbeddedLog(opts(dir), log);
    for (let i = 0; i < 40; i++) {
      await t.publish(Array.from({ length: 10 }, (_, j) => ev(`r${i}-${j}`)));
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.log')).length).toBeGreaterThan(2);
    const first = await take(t, 100, undefined, 50);
    await t.close();
    t = await createEmbeddedLog(opts(dir), log);
    const rest = await take(t, 400 - first.got.length, first.checkpoint);
    expect(first.got.length + rest.got.length).toBe(400);
    expect(rest.got[0]!.event_id).toBe(`r${first.got.length / 10}-0`);
    expect(readdirSync(dir).filter((f) => f.endsWith('.log'))).toHaveLength(1);
    await t.close();
  });

  it('truncates a torn write at the tail on open', async () => {
    const dir = newDir();
    let t = await createEmbeddedLog(opts(dir), log);
    await t.publish([ev('kept')]);
    await t.close();
    // The record never finished lands right after the durable end of the active segment,
    // whether that segment was zero-filled ahead or is appended to.
    const seg = join(dir, segmentFiles(dir).at(-1)!);
    const fh = await open(seg, 'r+');
    const { validBytes } = await scanSegment(fh);
    await fh.write(Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 1, 0, 0, 0, 123]), 0, 13, validBytes);
    await fh.close();
    t = await createEmbeddedLog(opts(dir), log);
    expect(statSync(seg).size).toBe(validBytes);
    await t.publish([ev('after')]);
    const { got } = await take(t, 2);
    expect(got.map((e) => e.event_id)).toEqual(['kept', 'after']);
    await t.close();
  });

  it('hands an intact record that does not decode on as undecodable, with the events around it', async () => {
    const dir = newDir();
    let t = await createEmbeddedLog(opts(dir), log);
    await t.publish([ev('before')]);
    await t.close();
    const active = segmentFiles(dir).at(-1)!;
    const fh = await open(join(dir, active), 'r+');
    const { validBytes } = await scanSegment(fh);
    const position = Number(active.slice(0, 20)) + validBytes;
    const bad = encodeRecord(Buffer.from('[{"event_id":'), 2);
    await fh.write(bad, 0, bad.length, validBytes);
    await fh.close();
    t = await createEmbeddedLog(opts(dir), log);
    await t.publish([ev('after')]);
    const batches: Batch[] = [];
    let stop!: () => void;
    const done = new Promise<void>((r) => (stop = r));
    const c = t.consume(
      async (b) => {
        batches.push(b);
        if (batches.flatMap((x) => x.events).length >= 2) {
          stop();
        }
      },
      { maxBatchEvents: 1000 },
    );
    await done;
    await t.stopConsuming();
    await c;
    expect(batches.flatMap((b) => b.events.map((e) => e.event_id))).toEqual(['before', 'after']);
    expect(batches.flatMap((b) => b.undecodable ?? [])).toEqual([
      {
        payload: '[{"event_id":',
        reason: expect.stringMatching(
          new RegExp(`^not JSON .+; embedded log record at position ${position}, 13 bytes$`),
        ) as string,
      },
    ]);
    expect(t.stats().waiting).toBe(0);
    await t.close();
  });

  it('appends into zero-filled segments made ahead, and keeps their zeros on reopen', async () => {
    const dir = newDir();
    let t = await createEmbeddedLog(opts(dir), log);
    let n = 0;
    // The spare is zero-filled in the background; the log rolls onto it once it is ready.
    await vi.waitFor(
      async () => {
        await t.publish([ev(`z${n++}`)]);
        const last = segmentFiles(dir).at(-1)!;
        expect(segmentFiles(dir).length).toBeGreaterThan(1);
        expect(statSync(join(dir, last)).size).toBe(16 * 1024);
      },
      { timeout: 5000, interval: 20 },
    );
    await t.publish([ev(`z${n++}`)]);
    const last = join(dir, segmentFiles(dir).at(-1)!);
    expect(statSync(last).size).toBe(16 * 1024); // written into, not extended
    await t.close();
    expect(readdirSync(dir)).not.toContain('spare.tmp');
    t = await createEmbeddedLog(opts(dir), log);
    expect(statSync(last).size).toBe(16 * 1024); // zeros are not a torn write
    await t.publish([ev(`z${n++}`)]);
    const { got } = await take(t, n);
    expect(got.map((e) => e.event_id)).toEqual(Array.from({ length: n }, (_, i) => `z${i}`));
    await t.close();
  });

  it('refuses with 503 when the backlog is full, and after close', async () => {
    const t = await createEmbeddedLog(opts(newDir(), { maxUnconsumedBytes: 1024 * 1024 }), log);
    const big = Array.from({ length: 1000 }, (_, i) =>
      ev(`b${i}`, { path: `/${'y'.repeat(1500)}` }),
    );
    await t.publish(big);
    await expect(t.publish([ev('over')])).rejects.toMatchObject({
      statusCode: 503,
      code: 'LOG_UNAVAILABLE',
      retryAfterS: 5,
    });
    await t.close();
    await expect(t.publish([ev('closed')])).rejects.toMatchObject({ statusCode: 503 });
  });

  it('refuses a second process on the same directory', async () => {
    const dir = newDir();
    const t = await createEmbeddedLog(opts(dir), log);
    // Same pid is allowed (re-open after close); simulate another live owner with our parent's pid.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'LOCK'), String(process.ppid));
    const t0 = Date.now();
    await expect(createEmbeddedLog(opts(dir), log)).rejects.toThrow(/in use by process/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(LOCK_WAIT_MS - 100); // it waited for it to go
    writeFileSync(join(dir, 'LOCK'), String(process.pid));
    await t.close();
  });

  it('takes the lock of a process that is going away once it is gone', async () => {
    const dir = newDir();
    const { spawn } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    // An owner that lives on for a second after the restart begins (as a killed process does
    // while the kernel frees it).
    const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 1000)']);
    writeFileSync(join(dir, 'LOCK'), String(owner.pid));
    const t0 = Date.now();
    const t = await createEmbeddedLog(opts(dir), log);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(String(process.pid));
    await t.close();
  });

  it('redelivers a batch whose handler failed', async () => {
    const t = await createEmbeddedLog(opts(newDir()), log);
    await t.publish([ev('once'), ev('twice')]);
    let calls = 0;
    const seen: string[] = [];
    let stop!: () => void;
    const done = new Promise<void>((r) => (stop = r));
    const c = t.consume(
      async (b) => {
        calls++;
        if (calls === 1) {
          throw new Error('storage down');
        }
        seen.push(...b.events.map((e) => e.event_id));
        stop();
      },
      { maxBatchEvents: 10 },
    );
    await done;
    await t.stopConsuming();
    await c;
    expect(seen).toEqual(['once', 'twice']);
    await t.close();
  });
});
