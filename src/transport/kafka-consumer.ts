import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { CanonicalEvent } from '../events/event.js';
import type { Logger } from '../logger.js';
import { Backoff } from '../retry.js';
import { deliver } from './deliver.js';
import { chunkBy } from './chunk-by.js';
import type { HeldOffsets } from './kafka-losses.js';
import type { Batch, BatchLimits, Undecodable } from './transport.js';

export interface KafkaConsumerDeps {
  kafka: Kafka;
  topic: string;
  groupId: string;
  sessionTimeoutMs: number;
  /** Creates the topic when missing (the worker may start before any API process). */
  ensureTopic: () => Promise<number>;
  /** The partitions of this member's last assignment (it reports their losses). */
  owned: Set<number>;
  /** How far each partition was taken in hand (not lost if the log loses it). */
  holding: HeldOffsets;
  logger: Logger;
}

interface Decoded {
  offset: string;
  events: CanonicalEvent[];
  undecodable?: Undecodable;
}

/** How much of an undecodable message is kept in its dead letter. */
const UNDECODABLE_MAX_CHARS = 4096;

const HEARTBEAT_MS = 3000;

/**
 * Runs a consumer-group member until `signal` aborts, recreating it after a crash or when the
 * broker is unreachable (a keep-alive, with its own backoff). Offsets are committed explicitly, per handed-out batch, only after the
 * handler resolved (i.e. after the storage transaction committed); nothing is auto-committed.
 *
 * Rebalances: a committed offset always means "every message below it was applied" (each member
 * applies a partition in order from the committed offset and commits only what it applied), so
 * no batch is skipped. A batch applied by a member that lost its partition before committing is
 * applied again by the new owner; the aggregator's dedup table makes that count once.
 */
export async function runKafkaConsumer(
  d: KafkaConsumerDeps,
  handler: (batch: Batch) => Promise<void>,
  limits: BatchLimits,
  signal: AbortSignal,
): Promise<void> {
  const { maxEvents } = limits;
  const backoff = new Backoff(500, 5000);
  while (!signal.aborted) {
    const consumer = d.kafka.consumer({
      groupId: d.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: d.sessionTimeoutMs,
      heartbeatInterval: Math.min(HEARTBEAT_MS, Math.floor(d.sessionTimeoutMs / 3)),
      // Batching by age as well as size: the broker answers a fetch once about a batch of
      // events (~100 bytes each) is there, or after maxWaitMs (at most a second: stop latency).
      // Without a wait, a fetch returns as soon as anything is there.
      minBytes: limits.maxWaitMs > 0 ? Math.min(1024 * 1024, limits.maxEvents * 100) : 1,
      maxWaitTimeInMs: limits.maxWaitMs > 0 ? Math.min(1000, limits.maxWaitMs) : 1000,
      // We restart the member ourselves (below), with our backoff and logging.
      retry: {
        retries: 5,
        initialRetryTime: 200,
        maxRetryTime: 2000,
        restartOnFailure: async () => false,
      },
    });
    const crashed = new Promise<Error>((resolve) => {
      consumer.on(consumer.events.CRASH, (e) => resolve(e.payload.error));
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      d.owned.clear();
      for (const p of e.payload.memberAssignment[d.topic] ?? []) {
        d.owned.add(p);
      }
    });
    const stopped = new Promise<undefined>((resolve) => {
      if (signal.aborted) {
        resolve(undefined);
      }
      signal.addEventListener('abort', () => resolve(undefined), { once: true });
    });
    try {
      await consumer.connect();
      await d.ensureTopic();
      await consumer.subscribe({ topics: [d.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        // Each partition stays in order; different partitions are applied at once.
        partitionsConsumedConcurrently: limits.concurrency,
        eachBatch: (payload) =>
          eachBatch(d, payload, handler, maxEvents, signal, (o) => consumer.seek(o)),
      });
      const err = await Promise.race([crashed, stopped]);
      if (err) {
        d.logger.warn({ err: err.message }, 'kafka consumer crashed; restarting it');
      } else {
        backoff.reset();
      }
    } catch (err) {
      if (!signal.aborted) {
        d.logger.warn({ err: (err as Error).message }, 'kafka consumer could not start; retrying');
      }
    }
    // Stops fetching, waits for the batches in hand, leaves the group.
    // `owned` keeps the last assignment until the next join: a loss found while the member
    // restarts (a deleted topic crashes it) is still reported by the member that had it.
    await disconnect(consumer);
    if (!signal.aborted) {
      await backoff.wait(signal);
    }
  }
}

async function disconnect(consumer: Consumer): Promise<void> {
  await consumer.disconnect().catch(() => undefined);
}

async function eachBatch(
  d: KafkaConsumerDeps,
  p: EachBatchPayload,
  handler: (batch: Batch) => Promise<void>,
  maxEvents: number,
  signal: AbortSignal,
  seek: Consumer['seek'],
): Promise<void> {
  const { topic, partition } = p.batch;
  const decoded = p.batch.messages.map((m) => decode(m, partition, d.logger));
  if (decoded.length === 0) {
    return;
  }
  // Taken in hand as a whole before anything is awaited: a loss found from now on excludes the
  // whole batch, and what is not applied is given back below.
  let next = Number(decoded[0]!.offset);
  let stale = false;
  const epoch = d.holding.take(partition, Number(decoded[decoded.length - 1]!.offset) + 1);
  try {
    for (const chunk of chunkBy(decoded, (m) => m.events.length, maxEvents)) {
      if (signal.aborted || !p.isRunning() || p.isStale()) {
        return; // not resolved, not committed: redelivered from the committed offset
      }
      const events = chunk.flatMap((m) => m.events);
      const undecodable = chunk.flatMap((m) => (m.undecodable ? [m.undecodable] : []));
      const batch: Batch = undecodable.length > 0 ? { events, undecodable } : { events };
      if (events.length > 0 || undecodable.length > 0) {
        if (!(await handle(batch, p, handler, signal, d.logger))) {
          return;
        }
      }
      const last = chunk[chunk.length - 1]!.offset;
      next = Number(last) + 1;
      if (!d.holding.current(partition, epoch)) {
        // The topic was deleted under the batch: the batch is counted (the loss left it out),
        // but its offsets mean nothing in the topic created again; committed there (or fetched
        // from), they would skip that topic's first messages, and look like another loss.
        stale = true;
        continue;
      }
      p.resolveOffset(last);
      await p.commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: (BigInt(last) + 1n).toString() }] }],
      });
      await p.heartbeat();
    }
    if (stale) {
      const offset = d.holding.resumeAt(partition);
      d.logger.warn({ partition, offset }, 'kafka topic deleted under a batch; not committed');
      seek({ topic, partition, offset: String(offset) });
    }
  } finally {
    d.holding.giveBack(partition, epoch, next);
  }
}

/**
 * Hands the events to the handler through `deliver` (the one owner of redelivery) until it
 * resolves; false when stopped or the partition was taken away first.
 */
async function handle(
  batch: Batch,
  p: EachBatchPayload,
  handler: (batch: Batch) => Promise<void>,
  signal: AbortSignal,
  logger: Logger,
): Promise<boolean> {
  // kafkajs heartbeats only when asked: keep the membership alive during a long transaction.
  const keepAlive = setInterval(() => void p.heartbeat().catch(() => undefined), HEARTBEAT_MS);
  try {
    return await deliver(handler, batch, {
      signal,
      logger,
      stillOwned: () => p.isRunning() && !p.isStale(),
    });
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * A message's events, or, when it holds no event array, its raw text and why: handed out as
 * undecodable (dead-lettered in the batch's transaction), so that it neither blocks its
 * partition nor leaves without a trace.
 */
function decode(m: KafkaMessage, partition: number, logger: Logger): Decoded {
  const raw = m.value?.toString() ?? '';
  let reason: string | undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
    if (!Array.isArray(parsed) || !parsed.every((e) => typeof e === 'object' && e !== null)) {
      reason = 'not an array of events';
    }
  } catch (err) {
    reason = `not JSON: ${(err as Error).message}`;
  }
  if (reason === undefined) {
    return { offset: m.offset, events: parsed as CanonicalEvent[] };
  }
  reason = `${reason} (partition ${partition}, offset ${m.offset})`;
  logger.error({ partition, offset: m.offset, reason }, 'undecodable kafka message; dead-lettered');
  return {
    offset: m.offset,
    events: [],
    undecodable: { payload: raw.slice(0, UNDECODABLE_MAX_CHARS), reason },
  };
}
