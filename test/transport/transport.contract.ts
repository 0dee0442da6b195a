import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { CanonicalEvent } from '../../src/events/event.js';
import { createLogger } from '../../src/logger.js';
import type { Batch, Transport } from '../../src/transport/transport.js';

/**
 * The contract every transport passes (embedded log, Redis Streams, Kafka), run against the
 * real log/broker. Each test gets its own log (directory, stream + group, topic + group).
 */
export interface TransportFixture {
  /** A new transport instance on this fixture's log and consumer group. */
  open(): Promise<Transport>;
  /** A transport whose broker refuses connections (brokers only). */
  openUnreachable?(): Promise<Transport>;
  /** Removes the log (directory, stream, topic, group). */
  destroy(): Promise<void>;
}

export interface ContractOptions {
  /** Upper bound of a publish against an unreachable broker (the transport's publish timeout + slack). */
  unreachableBoundMs?: number;
  /** How long a redelivery or a first delivery may take (group joins, reclaim timeouts). */
  deliveryTimeoutMs?: number;
}

export const testLog = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let seq = 0;
/** A canonical event as the edge publishes it. */
export function ev(over: Partial<CanonicalEvent> = {}): CanonicalEvent {
  const now = Date.now();
  return {
    event_id: `t-${randomUUID()}`,
    type: 'page_view',
    ts: now,
    received_at: now,
    site_id: 'site-a',
    path: `/p/${seq++}`,
    props: { n: seq, ok: true, none: null, s: 'é "quoted" \u2028' },
    ...over,
  };
}

/**
 * Consumes like the aggregator does: a batch counts as applied only if the handler resolved, and
 * the embedded log's checkpoint is "stored" with it (so a reopened consumer resumes there).
 */
export class Sink {
  applied: CanonicalEvent[] = [];
  attempts = 0;
  checkpoint: string | undefined;
  consuming: Promise<void> | undefined;

  start(
    t: Transport,
    before?: (batch: Batch, attempt: number) => Promise<void>,
    maxBatchEvents = 1000,
  ): this {
    this.consuming = t.consume(
      async (batch) => {
        const attempt = ++this.attempts;
        await before?.(batch, attempt);
        this.applied.push(...batch.events);
        if (batch.checkpoint) {
          this.checkpoint = batch.checkpoint.position;
        }
      },
      { checkpoint: this.checkpoint, maxBatchEvents },
    );
    return this;
  }

  ids(): string[] {
    return this.applied.map((e) => e.event_id);
  }
}

const sorted = (xs: string[]) => [...xs].sort();

export function describeTransport(
  name: string,
  make: () => TransportFixture,
  opts: ContractOptions = {},
): void {
  const delivery = { timeout: opts.deliveryTimeoutMs ?? 20_000, interval: 25 };

  describe(`transport contract: ${name}`, () => {
    let fx: TransportFixture;
    const opened: Transport[] = [];
    const open = async (unreachable = false) => {
      const t = unreachable ? await fx.openUnreachable!() : await fx.open();
      opened.push(t);
      return t;
    };

    beforeEach(() => {
      fx = make();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((t) => t.close()));
      await fx.destroy();
    });

    /** Nothing acknowledged comes back: a fresh consumer in the group sees only a new sentinel. */
    async function expectNothingLeft(sink = new Sink()): Promise<void> {
      const t = await open();
      sink.start(t);
      const sentinel = ev({ site_id: 'sentinel' });
      await t.publish([sentinel]);
      await vi.waitFor(() => expect(sink.ids()).toContain(sentinel.event_id), delivery);
      expect(sink.ids()).toEqual([sentinel.event_id]);
    }

    it('publish → consume → ack: events arrive intact, once, and are not redelivered', async () => {
      const t = await open();
      const a = [ev(), ev({ type: 'impression', ad_id: 'ad-1', site_id: undefined })];
      const b = Array.from({ length: 20 }, () => ev({ site_id: 'site-b' }));
      const c = [ev({ type: 'signup', user_id: 'u-1' })];
      await t.publish(a);
      await Promise.all([t.publish(b), t.publish(c)]);
      const sink = new Sink().start(t);
      const all = [...a, ...b, ...c];
      await vi.waitFor(
        () => expect(sink.applied.length).toBeGreaterThanOrEqual(all.length),
        delivery,
      );
      expect(sorted(sink.ids())).toEqual(sorted(all.map((e) => e.event_id)));
      const byId = new Map(sink.applied.map((e) => [e.event_id, e]));
      for (const e of all) {
        expect(byId.get(e.event_id)).toEqual(e);
      }
      await t.close();
      await expectNothingLeft(Object.assign(new Sink(), { checkpoint: sink.checkpoint }));
    });

    it('redelivers a batch whose handler rejected, then acknowledges it once', async () => {
      const t = await open();
      const events = Array.from({ length: 5 }, () => ev());
      await t.publish(events);
      const sink = new Sink().start(t, async (_batch, attempt) => {
        if (attempt === 1) {
          throw new Error('storage down');
        }
      });
      await vi.waitFor(
        () => expect(sink.applied.length).toBeGreaterThanOrEqual(events.length),
        delivery,
      );
      expect(sink.attempts).toBeGreaterThanOrEqual(2);
      expect(sorted(sink.ids())).toEqual(sorted(events.map((e) => e.event_id)));
      await t.close();
      await expectNothingLeft(Object.assign(new Sink(), { checkpoint: sink.checkpoint }));
    });

    it('redelivers unacknowledged batches to a new consumer after a consumer crash', async () => {
      const crashed = await open();
      const events = Array.from({ length: 10 }, (_, i) => ev({ site_id: `site-${i % 3}` }));
      await crashed.publish(events);
      // A consumer that keeps failing (storage down) and is then closed: nothing was acknowledged.
      const dead = new Sink().start(crashed, () =>
        Promise.reject(new Error('crash before commit')),
      );
      await vi.waitFor(() => expect(dead.attempts).toBeGreaterThanOrEqual(1), delivery);
      await crashed.close();
      await dead.consuming;
      expect(dead.applied).toEqual([]);

      const t = await open();
      const sink = new Sink().start(t);
      await vi.waitFor(
        () => expect(sink.applied.length).toBeGreaterThanOrEqual(events.length),
        delivery,
      );
      expect(sorted(sink.ids())).toEqual(sorted(events.map((e) => e.event_id)));
    });

    it('keeps the order of events per key (site, ad)', async () => {
      const t = await open();
      const keys = ['s1', 's2', 's3', 's4', 'ad:x', 'ad:y'];
      const next = new Map(keys.map((k) => [k, 0]));
      const make = (k: string) => {
        const n = next.get(k)!;
        next.set(k, n + 1);
        const props = { k, n };
        return k.startsWith('ad:')
          ? ev({ type: 'click', ad_id: k, site_id: undefined, props })
          : ev({ site_id: k, props });
      };
      const batch = () => keys.map(make).sort(() => Math.random() - 0.5);
      for (let i = 0; i < 10; i++) {
        await t.publish(batch());
      }
      // Concurrent publishes of one process keep their call order.
      await Promise.all(Array.from({ length: 10 }, () => t.publish(batch())));
      const total = keys.length * 20;
      const sink = new Sink().start(t, undefined, 17);
      await vi.waitFor(() => expect(sink.applied.length).toBeGreaterThanOrEqual(total), delivery);
      expect(sink.applied.length).toBe(total);
      for (const k of keys) {
        const ns = sink.applied.filter((e) => e.props?.['k'] === k).map((e) => e.props?.['n']);
        expect(ns).toEqual(Array.from({ length: 20 }, (_, i) => i));
      }
    });

    it('stats(): waiting counts unacknowledged events and drops to 0 once consumed', async () => {
      const t = await open();
      await t.publish(Array.from({ length: 5 }, () => ev()));
      await vi.waitFor(() => {
        const s = t.stats();
        expect(s.state).toBe('up');
        expect(s.waiting).toBeGreaterThanOrEqual(1);
        expect(s.waiting).toBeLessThanOrEqual(5);
      }, delivery);
      const sink = new Sink().start(t);
      await vi.waitFor(() => expect(sink.applied.length).toBe(5), delivery);
      await vi.waitFor(() => expect(t.stats().waiting).toBe(0), delivery);
    });

    it('close(): resolves with a consumer running; publish afterwards is a 503', async () => {
      const t = await open();
      await t.publish([ev()]);
      const sink = new Sink().start(t);
      await vi.waitFor(() => expect(sink.applied.length).toBe(1), delivery);
      const started = Date.now();
      await t.close();
      await sink.consuming;
      expect(Date.now() - started).toBeLessThan(10_000);
      const err = await t.publish([ev()]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ statusCode: 503, code: 'LOG_UNAVAILABLE' });
      expect(t.stats().state).toBe('down');
      await t.close(); // idempotent
    });

    if (opts.unreachableBoundMs !== undefined) {
      const bound = opts.unreachableBoundMs;
      it(`publish with the broker unreachable rejects with 503 + Retry-After within ${bound} ms`, async () => {
        const t = await open(true);
        for (let i = 0; i < 2; i++) {
          const started = Date.now();
          const err = await t.publish([ev()]).catch((e: unknown) => e);
          expect(Date.now() - started).toBeLessThan(bound);
          expect(err).toBeInstanceOf(AppError);
          expect(err).toMatchObject({ statusCode: 503, code: 'LOG_UNAVAILABLE' });
          expect((err as AppError).retryAfterS).toBeGreaterThan(0);
        }
        await vi.waitFor(() => expect(t.stats().state).toBe('down'), delivery);
        const started = Date.now();
        await t.close();
        expect(Date.now() - started).toBeLessThan(bound);
      });
    }
  });
}
