import type { Kafka, Message } from 'kafkajs';
import type { Logger } from '../logger.js';
import { createBrokerTransport, LogLosses, type Broker } from './broker-transport.js';
import { withTimeout } from '../timeout.js';
import { chunkBy } from './chunk-by.js';
import { KafkaAdmin, lagOf } from './kafka-admin.js';
import { runKafkaConsumer } from './kafka-consumer.js';
import { KafkaLossWatch } from './kafka-losses.js';
import { KafkaProducer } from './kafka-producer.js';
import { hashKey, partitionKey } from './partition-key.js';
import type { Transport } from './transport.js';

export interface KafkaOptions {
  brokers: string[];
  topic: string;
  /** Partitions of the topic when this process creates it. */
  partitions: number;
  groupId: string;
  /** Bytes waiting for the next produce request before publishers get 503. */
  maxPendingBytes: number;
  /** Backlog (entries or messages not yet acknowledged by the workers) above which publishers get 503. */
  maxBacklog?: number;
  /** A publish that Kafka has not acknowledged within this bound fails with 503 (default 3000). */
  publishTimeoutMs?: number;
  /** How long the group waits for a silent member (e.g. a killed worker) before rebalancing. */
  sessionTimeoutMs?: number;
}

interface Encoded {
  hash: number;
  json: string;
}

/** One message holds the events of one partition from one flush (group commit), up to this many bytes. */
const MESSAGE_MAX_BYTES = 512 * 1024;
const STATS_EVERY_MS = 2000;
const RETRY = { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 };

/**
 * Kafka through kafkajs (loaded only when this transport is chosen). Events are routed by
 * `partitionKey` (site, or ad) so one rollup row is fed by one partition; each flush sends one
 * message per partition holding that partition's events, through the idempotent producer of
 * kafka-producer.ts.
 */
export async function createKafkaTransport(opts: KafkaOptions, logger: Logger): Promise<Transport> {
  const { Kafka: KafkaClient, logLevel } = await import('kafkajs');
  const losses = new LogLosses(logger);
  const watch = new KafkaLossWatch(opts.topic, losses);
  const kafka = new KafkaClient({
    clientId: 'tally',
    brokers: opts.brokers,
    connectionTimeout: 2000,
    retry: RETRY,
    logLevel: logLevel.WARN,
    // kafkajs is chatty while the broker is away; our own state changes are logged at warn.
    logCreator: () => (e) => {
      // kafkajs resets an out-of-range offset by itself: the messages in between may be gone.
      if (e.log.message === OUT_OF_RANGE && e.log['topic'] === opts.topic) {
        watch.outOfRange(Number(e.log['partition']));
      }
      const level = e.level === logLevel.ERROR ? 'warn' : 'debug';
      logger[level]({ kafkajs: e.namespace, ...e.log, timestamp: undefined }, e.log.message);
    },
  });
  return createBrokerTransport(kafkaBroker(kafka, opts, watch, logger), opts, losses);
}

/** What kafkajs logs when it resets a consumer's offset (consumerGroup.js). */
const OUT_OF_RANGE = 'Offset out of range, resetting to default offset';

function kafkaBroker(
  kafka: Kafka,
  opts: KafkaOptions,
  watch: KafkaLossWatch,
  logger: Logger,
): Broker<Encoded[]> {
  const timeoutMs = opts.publishTimeoutMs ?? 3000;
  const admin = new KafkaAdmin(kafka, RETRY, logger);
  let topicEnsured = false;
  /** Creates the topic with N partitions when missing; returns its partition count. */
  const ensureTopic = async () => {
    const n = await admin.ensureTopic(opts.topic, opts.partitions);
    topicEnsured = true;
    return n;
  };
  const producer = new KafkaProducer(
    kafka,
    { topic: opts.topic, brokers: opts.brokers, timeoutMs, retry: RETRY, ensureTopic },
    logger,
  );
  watch.read = () => admin.offsets(opts.topic, opts.groupId);
  /** Whether the last offsets read succeeded: a worker-only process never produces, so this is its view of the broker. */
  let offsetsOk = true;
  return {
    name: 'kafka',
    label: 'Kafka',
    backlogEveryMs: STATS_EVERY_MS,
    writable: () => producer.state !== 'down',
    up: () => producer.state === 'up' && offsetsOk,
    reason: () =>
      producer.state === 'down'
        ? 'Kafka is unreachable'
        : offsetsOk
          ? undefined
          : 'the Kafka offsets could not be read',
    encode(events) {
      let bytes = 0;
      const item = events.map((e) => {
        const json = JSON.stringify(e);
        bytes += json.length;
        return { hash: hashKey(partitionKey(e)), json };
      });
      return { item, bytes };
    },
    write: (items) => producer.send((partitions) => messages(items, partitions)),
    consume: (handler, limits, signal) =>
      runKafkaConsumer(
        {
          kafka,
          topic: opts.topic,
          groupId: opts.groupId,
          sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000,
          ensureTopic,
          owned: watch.owned,
          holding: watch.holding,
          logger,
        },
        handler,
        limits,
        signal,
      ),
    /** Messages past the group's committed offsets (each holds ≥ 1 event: a lower bound on events). */
    async backlog() {
      // Reading the offsets of a missing topic fails, and a failed call replaces the admin
      // client under the ensureTopic that is creating it: wait until the topic is there.
      if (!topicEnsured) {
        return 0;
      }
      try {
        const offsets = await withTimeout(
          admin.offsets(opts.topic, opts.groupId),
          timeoutMs,
          () => new Error('timed out reading kafka offsets'),
        );
        offsetsOk = true;
        watch.observe(offsets);
        return lagOf(offsets);
      } catch (err) {
        offsetsOk = false;
        // Deleted under us? Then what the group had not consumed is gone: say so, and create
        // the topic again (nobody else would until a publish fails).
        if (!(await admin.hasTopic(opts.topic).catch(() => true))) {
          watch.vanished();
          await ensureTopic().catch(() => undefined);
        }
        throw err;
      }
    },
    async close() {
      await Promise.all([producer.close(), admin.close()]);
    },
  };
}

/** One message per partition: the partition's events, in publish order, as one JSON array. */
function messages(items: Encoded[][], partitions: number): Message[] {
  const byPartition = new Map<number, string[]>();
  for (const events of items) {
    for (const e of events) {
      const p = e.hash % partitions;
      let list = byPartition.get(p);
      if (!list) {
        list = [];
        byPartition.set(p, list);
      }
      list.push(e.json);
    }
  }
  const out: Message[] = [];
  for (const [partition, list] of byPartition) {
    for (const c of chunkBy(list, (s) => s.length, MESSAGE_MAX_BYTES)) {
      out.push({ partition, value: `[${c.join(',')}]` });
    }
  }
  return out;
}
