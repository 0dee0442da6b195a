import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CanonicalEvent } from '../../src/events/event.js';
import { createKafkaTransport, type KafkaOptions } from '../../src/transport/kafka.js';
import { partitionKey } from '../../src/transport/partition-key.js';
import type { Transport } from '../../src/transport/transport.js';
import { kafkaAvailable, requireService, TEST_KAFKA_BROKERS } from '../helpers/services.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { describeTransport, ev, Sink, testLog } from './transport.contract.js';

// Real: the Kafka broker of scripts/kafka/kafka.sh; unique topic and group per test, deleted afterwards.
const up = requireService(
  'Kafka',
  await kafkaAvailable(),
  `start it with: bash scripts/kafka/kafka.sh start`,
);
const PARTITIONS = 3;

function options(over: Partial<KafkaOptions> = {}): KafkaOptions {
  return {
    brokers: TEST_KAFKA_BROKERS,
    topic: `tally-test-${randomUUID()}`,
    groupId: `tally-test-${randomUUID()}`,
    partitions: PARTITIONS,
    maxPendingBytes: 8 * 1024 * 1024,
    publishTimeoutMs: 3000,
    ...over,
  };
}

describe.skipIf(!up)('kafka', () => {
  let admin: Admin;
  beforeAll(async () => {
    admin = new Kafka({
      clientId: 'tally-test',
      brokers: TEST_KAFKA_BROKERS,
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.disconnect();
  });
  const drop = async (o: KafkaOptions) => {
    await admin.deleteGroups([o.groupId]).catch(() => undefined);
    // Deleting a topic that was never created is retried by kafkajs for seconds: skip it.
    if ((await admin.listTopics()).includes(o.topic)) {
      await admin.deleteTopics({ topics: [o.topic] }).catch(() => undefined);
    }
  };

  describeTransport(
    'kafka',
    () => {
      const o = options();
      return {
        open: () => createKafkaTransport(o, testLog),
        openUnreachable: () => createKafkaTransport({ ...o, brokers: ['127.0.0.1:1'] }, testLog),
        destroy: () => drop(o),
      };
    },
    { unreachableBoundMs: 5000, deliveryTimeoutMs: 30_000 },
  );

  describe('kafka specifics', () => {
    const opened: Transport[] = [];
    const created: KafkaOptions[] = [];
    const open = async (o: KafkaOptions) => {
      const t = await createKafkaTransport(o, testLog);
      opened.push(t);
      created.push(o);
      return t;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((t) => t.close()));
      await Promise.all(created.splice(0).map(drop));
    });

    it('creates the topic with N partitions and routes each site / ad to one partition', async () => {
      const o = options();
      const t = await open(o);
      const events: CanonicalEvent[] = [];
      for (let i = 0; i < 8; i++) {
        events.push(
          ev({ site_id: `site-${i}` }),
          ev({ type: 'impression', site_id: undefined, ad_id: `ad-${i}` }),
        );
        events.push(ev({ type: 'click', site_id: undefined, ad_unit_id: `unit-${i}` }));
      }
      await t.publish(events);
      await t.publish(events.map((e) => ({ ...e, event_id: randomUUID() })));
      const meta = await admin.fetchTopicMetadata({ topics: [o.topic] });
      expect(meta.topics[0]!.partitions).toHaveLength(PARTITIONS);

      // Read the raw topic: every key lives in exactly one partition.
      const seen = new Map<string, Set<number>>();
      const consumer = new Kafka({
        clientId: 't',
        brokers: TEST_KAFKA_BROKERS,
        logLevel: logLevel.NOTHING,
      }).consumer({
        groupId: `tally-test-${randomUUID()}`,
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [o.topic], fromBeginning: true });
      let count = 0;
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          for (const e of JSON.parse(message.value!.toString()) as CanonicalEvent[]) {
            const k = partitionKey(e);
            seen.set(k, (seen.get(k) ?? new Set()).add(partition));
            count++;
          }
        },
      });
      await vi.waitFor(() => expect(count).toBe(events.length * 2), { timeout: 30_000 });
      await consumer.disconnect();
      expect(seen.size).toBe(24);
      expect([...seen.values()].every((s) => s.size === 1)).toBe(true);
      expect(new Set([...seen.values()].map((s) => [...s][0])).size).toBeGreaterThan(1);
    });

    it('across rebalances (a member joins, another leaves) every event is applied and committed', async () => {
      const o = options({ partitions: 4 });
      const producer = await open(o);
      const published: string[] = [];
      const publishSome = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const batch = Array.from({ length: 5 }, (_, j) =>
            ev({ site_id: `site-${(i + j) % 11}` }),
          );
          // A 503 is "not taken, send again" (a new topic's leaders can still be moving under a
          // loaded machine): what a client does with it, and only acknowledged events count.
          await vi.waitFor(() => producer.publish(batch), { timeout: 15_000, interval: 200 });
          published.push(...batch.map((e) => e.event_id));
        }
      };
      const slow = () => new Promise<void>((r) => setTimeout(r, 20));
      /** Keeps publishing until `cond` holds (a member joins only at the others' next heartbeat). */
      const publishUntil = (cond: () => boolean) =>
        vi.waitFor(
          async () => {
            if (!cond()) {
              await publishSome(1);
              expect(cond()).toBe(true);
            }
          },
          { timeout: 30_000, interval: 100 },
        );
      const a = await open(o);
      const sinkA = new Sink().start(a, slow, 10);
      await publishSome(20);
      await publishUntil(() => sinkA.applied.length > 0);
      const b = await open(o);
      const sinkB = new Sink().start(b, slow, 10);
      await publishUntil(() => sinkB.applied.length > 0);
      // A member leaves while events keep coming.
      const closing = a.close();
      await publishSome(20);
      await closing;
      const applied = () => new Set([...sinkA.ids(), ...sinkB.ids()]);
      await vi.waitFor(() => expect(applied().size).toBe(published.length), { timeout: 30_000 });
      expect([...applied()].sort()).toEqual([...published].sort());
      await b.close();
      // Everything applied was committed: a new member gets nothing but a new sentinel.
      const c = await open(o);
      const sinkC = new Sink().start(c);
      const sentinel = ev();
      await c.publish([sentinel]);
      await vi.waitFor(() => expect(sinkC.ids()).toContain(sentinel.event_id), { timeout: 30_000 });
      expect(sinkC.ids()).toEqual([sentinel.event_id]);
      const dup = sinkA.applied.length + sinkB.applied.length - published.length;
      testLog.info(
        { duplicates: dup },
        'events applied twice across rebalances (the aggregator dedups them)',
      );
    });

    it('answers 503 while the broker is unreachable and recovers by itself when it is back', async () => {
      const [host = '127.0.0.1', port = '9092'] = TEST_KAFKA_BROKERS[0]!.split(':');
      const proxy = await startTcpProxy({ host, port: Number(port) }, { startDown: true });
      try {
        const o = options({ brokers: [`127.0.0.1:${proxy.port}`] });
        const t = await open(o);
        const err = await t.publish([ev()]).catch((e: unknown) => e);
        expect(err).toMatchObject({ statusCode: 503, code: 'LOG_UNAVAILABLE' });
        expect(t.stats().state).toBe('down');

        await proxy.up();
        const ok = ev();
        await vi.waitFor(() => t.publish([ok]), { timeout: 20_000, interval: 250 });
        const sink = new Sink().start(t);
        await vi.waitFor(() => expect(sink.ids()).toContain(ok.event_id), { timeout: 30_000 });
      } finally {
        await proxy.close();
      }
    });
  });
});
