import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createRedisStreams, type RedisStreamsOptions } from '../../src/transport/redis-streams.js';
import type { Transport } from '../../src/transport/transport.js';
import { redisAvailable, requireService, TEST_REDIS_URL } from '../helpers/services.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { describeTransport, ev, Sink, testLog } from './transport.contract.js';

// Real: Redis 7 at TEST_REDIS_URL; unique stream and group per test, deleted afterwards. The
// shared test Redis may run without AOF: these tests are not about persistence (see
// redis-faults.int.test.ts for that), so they allow it.
const up = requireService('Redis', await redisAvailable(), `expected at ${TEST_REDIS_URL}`);
const RECLAIM_IDLE_MS = 500;

function options(over: Partial<RedisStreamsOptions> = {}): RedisStreamsOptions {
  return {
    url: TEST_REDIS_URL,
    stream: `tally-test-${randomUUID()}`,
    group: `tally-test-${randomUUID()}`,
    reclaimIdleMs: RECLAIM_IDLE_MS,
    maxPendingBytes: 8 * 1024 * 1024,
    publishTimeoutMs: 2000,
    allowNoPersistence: true,
    ...over,
  };
}

async function dropStream(stream: string): Promise<void> {
  const c = createClient({ url: TEST_REDIS_URL });
  await c.connect();
  await c.del([stream, `${stream}:epoch`]);
  await c.close();
}

describe.skipIf(!up)('redis streams', () => {
  describeTransport(
    'redis',
    () => {
      const o = options();
      return {
        open: () => createRedisStreams(o, testLog),
        openUnreachable: () => createRedisStreams({ ...o, url: 'redis://127.0.0.1:1' }, testLog),
        destroy: () => dropStream(o.stream),
      };
    },
    { unreachableBoundMs: 4000 },
  );

  describe('redis specifics', () => {
    const redis = createClient({ url: TEST_REDIS_URL });
    const opened: Transport[] = [];
    const streams: string[] = [];
    const open = async (o: RedisStreamsOptions) => {
      const t = await createRedisStreams(o, testLog);
      opened.push(t);
      streams.push(o.stream);
      return t;
    };
    beforeAll(async () => {
      await redis.connect();
    });

    it('refuses with 503 once the backlog the workers have not acknowledged passes maxBacklog', async () => {
      const t = await open(options({ maxBacklog: 2 }));
      for (let i = 0; i < 3; i++) {
        await t.publish([ev({ event_id: `backlog-${i}` })]);
      }
      await vi.waitFor(() => expect(t.stats().waiting).toBeGreaterThan(2), {
        timeout: 5000,
        interval: 100,
      });
      const err = await t.publish([ev({ event_id: 'over' })]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ statusCode: 503, retryAfterS: 5 });
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((t) => t.close()));
      await Promise.all(streams.splice(0).map((s) => redis.del([s, `${s}:epoch`])));
    });
    afterAll(async () => {
      await redis.close();
    });

    it('applies up to `concurrency` batches at once; a failing one is retried while the other is acknowledged', async () => {
      const o = options();
      const t = await open(o);
      const events = Array.from({ length: 6 }, (_, i) => ev({ event_id: `conc-${i}` }));
      for (const e of events) {
        await t.publish([e]);
      }
      let inFlight = 0;
      let most = 0;
      let failed = false;
      const applied: string[] = [];
      const consuming = t.consume(
        async (batch) => {
          inFlight++;
          most = Math.max(most, inFlight);
          try {
            await new Promise((r) => setTimeout(r, 100));
            if (!failed && batch.events.some((e) => e.event_id === 'conc-0')) {
              failed = true;
              throw new Error('storage hiccup');
            }
            applied.push(...batch.events.map((e) => e.event_id));
          } finally {
            inFlight--;
          }
        },
        { maxBatchEvents: 2, concurrency: 2 },
      );
      await vi.waitFor(() => expect(applied.length).toBe(6), { timeout: 10_000, interval: 20 });
      expect(most).toBe(2);
      expect(failed).toBe(true);
      expect(applied.sort()).toEqual(events.map((e) => e.event_id).sort());
      await vi.waitFor(async () => {
        const [pending] = await redis.sendCommand<[number]>(['XPENDING', o.stream, o.group]);
        expect(pending).toBe(0);
      });
      await t.stopConsuming();
      await consuming;
    });

    it('reclaims entries a dead consumer read but never acknowledged, only after the idle timeout', async () => {
      const o = options();
      const t = await open(o);
      const events = Array.from({ length: 5 }, () => ev());
      await t.publish(events.slice(0, 2));
      await t.publish(events.slice(2));
      // The transport made the group at start (from the start of the stream).
      const readAt = Date.now();
      const read = await redis.sendCommand<unknown[] | null>([
        'XREADGROUP',
        'GROUP',
        o.group,
        'dead',
        'COUNT',
        '100',
        'STREAMS',
        o.stream,
        '>',
      ]);
      expect(read).not.toBeNull();

      let firstAt = 0;
      const sink = new Sink().start(t, async () => {
        firstAt ||= Date.now();
      });
      await vi.waitFor(() => expect(sink.applied.length).toBe(5), {
        timeout: 10_000,
        interval: 20,
      });
      expect(firstAt - readAt).toBeGreaterThanOrEqual(RECLAIM_IDLE_MS);
      expect(sink.ids().sort()).toEqual(events.map((e) => e.event_id).sort());
      await vi.waitFor(async () => {
        const [pending] = await redis.sendCommand<[number]>(['XPENDING', o.stream, o.group]);
        expect(pending).toBe(0);
      });
    });

    it('trims the stream only below what every group has acknowledged', async () => {
      const o = options();
      const t = await open(o);
      const ids: string[] = [];
      for (let i = 0; i < 300; i++) {
        await t.publish([ev()]);
      }
      const all = await redis.sendCommand<[string, string[]][]>(['XRANGE', o.stream, '-', '+']);
      ids.push(...all.map(([id]) => id));
      expect(ids).toHaveLength(300);
      // Another group has read 250 entries and acknowledged the first 200: 200..249 are pending.
      await redis.sendCommand(['XGROUP', 'CREATE', o.stream, 'other', '0']);
      await redis.sendCommand([
        'XREADGROUP',
        'GROUP',
        'other',
        'c',
        'COUNT',
        '250',
        'STREAMS',
        o.stream,
        '>',
      ]);
      await redis.sendCommand(['XACK', o.stream, 'other', ...ids.slice(0, 200)]);

      const sink = new Sink().start(t);
      await vi.waitFor(() => expect(sink.applied.length).toBe(300), { timeout: 10_000 });
      // Trimming runs after acknowledgements (at most once a second): keep feeding it.
      await vi.waitFor(
        async () => {
          await t.publish([ev()]);
          expect(await redis.xLen(o.stream)).toBeLessThan(250);
        },
        { timeout: 15_000, interval: 300 },
      );
      const first = await redis.sendCommand<[string, string[]][]>([
        'XRANGE',
        o.stream,
        '-',
        '+',
        'COUNT',
        '1',
      ]);
      const kept = await redis.sendCommand<unknown[]>(['XRANGE', o.stream, ids[200]!, ids[299]!]);
      expect(kept).toHaveLength(100); // the other group's oldest pending entry and all after it
      expect(ids.indexOf(first[0]![0])).toBeLessThanOrEqual(200);
    });

    it('answers 503 while Redis is unreachable and recovers by itself when it is back', async () => {
      const target = new URL(TEST_REDIS_URL);
      const proxy = await startTcpProxy({
        host: target.hostname,
        port: Number(target.port || 6379),
      });
      try {
        const o = options({ url: `redis://127.0.0.1:${proxy.port}` });
        const t = await open(o);
        const sink = new Sink().start(t);
        const ok1 = ev();
        await t.publish([ok1]);

        await proxy.down();
        await vi.waitFor(() => expect(t.stats().state).toBe('down'), {
          timeout: 5000,
          interval: 20,
        });
        const started = Date.now();
        const err = await t.publish([ev()]).catch((e: unknown) => e);
        expect(Date.now() - started).toBeLessThan(3000);
        expect(err).toBeInstanceOf(AppError);
        expect(err).toMatchObject({ statusCode: 503, retryAfterS: 2 });

        await proxy.up();
        const ok2 = ev();
        await vi.waitFor(() => t.publish([ok2]), { timeout: 10_000, interval: 100 });
        expect(t.stats().state).toBe('up');
        await vi.waitFor(() => expect(sink.ids()).toContain(ok2.event_id), { timeout: 10_000 });
        expect(sink.ids()).toContain(ok1.event_id);
      } finally {
        await Promise.all(opened.splice(0).map((t) => t.close()));
        await proxy.close();
      }
    });
  });
});
