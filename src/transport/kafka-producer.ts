import { connect } from 'node:net';
import type { Kafka, Message, Producer, RetryOptions } from 'kafkajs';
import { logUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { Backoff } from '../retry.js';
import { withTimeout } from '../timeout.js';

export interface KafkaProducerOptions {
  topic: string;
  /** `host:port` of the brokers: while down, a plain TCP connect tells when one is back. */
  brokers: string[];
  /** A send that Kafka has not acknowledged within this bound fails with 503. */
  timeoutMs: number;
  retry: RetryOptions;
  /** Creates the topic when missing; returns its partition count. */
  ensureTopic: () => Promise<number>;
}

const PARTITIONS_EVERY_MS = 60_000;

/**
 * The producer side of the Kafka transport, a small state machine: connecting → up, and down
 * after any failed send until a background reconnect (with backoff) succeeds; publishes answer
 * 503 while down. The producer is idempotent (a retried request is not written twice), acks=all.
 * After any failed send the producer is replaced: its sequence numbers may be out of step with
 * the broker, and kafkajs does not recover from that. Also knows the topic's partition count.
 */
export class KafkaProducer {
  private current: 'connecting' | 'up' | 'down' = 'connecting';
  private closed = false;
  private readonly closing = new AbortController();
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private reconnecting: Promise<void> | undefined;
  private partitions = 0;
  private partitionsAt = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly o: KafkaProducerOptions,
    private readonly logger: Logger,
  ) {
    // Connect now so the first request does not pay for it; failure only marks the log down.
    this.getProducer().catch((err: unknown) => this.markDown(err));
  }

  get state(): 'connecting' | 'up' | 'down' {
    return this.current;
  }

  /** Sends the messages `build` makes for the topic's partition count; rejects with a 503 AppError. */
  async send(build: (partitions: number) => Message[]): Promise<void> {
    if (this.current === 'down') {
      throw logUnavailable('Kafka is unreachable; retry shortly', 2);
    }
    const { timeoutMs } = this.o;
    const deadline = Date.now() + timeoutMs;
    try {
      const producer = await withTimeout(
        this.getProducer(),
        timeoutMs,
        () => new Error('timed out connecting to Kafka'),
      );
      await withTimeout(
        producer.send({
          topic: this.o.topic,
          acks: -1,
          timeout: timeoutMs,
          messages: build(this.partitions),
        }),
        Math.max(1, deadline - Date.now()),
        () => new Error('timed out waiting for Kafka to acknowledge'),
      );
      this.current = 'up';
    } catch (err) {
      this.markDown(err);
      throw logUnavailable('Kafka did not accept the events; retry shortly', 2);
    }
    this.refreshPartitionsSoon();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    const producer = this.producer;
    this.producer = undefined;
    await Promise.all([
      producer?.disconnect().catch(() => undefined),
      // An in-flight connect sees `closed` and disconnects its producer itself.
      this.connecting &&
        withTimeout(this.connecting, 1000, () => new Error('')).catch(() => undefined),
    ]);
  }

  private getProducer(): Promise<Producer> {
    if (this.producer) {
      return Promise.resolve(this.producer);
    }
    this.connecting ??= this.connectProducer().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectProducer(): Promise<Producer> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: this.o.retry,
    });
    try {
      await producer.connect();
      // A reconnect keeps the partition count it knew (refreshed after the next send): the
      // admin round trips would delay the first publish after the broker is back.
      if (this.partitions === 0) {
        this.partitions = await this.o.ensureTopic();
        this.partitionsAt = Date.now();
      } else {
        this.partitionsAt = 0;
      }
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await producer.disconnect().catch(() => undefined);
      throw new Error('closed');
    }
    this.producer = producer;
    if (this.current === 'down') {
      this.logger.info('kafka reachable again');
    }
    this.current = 'up';
    return producer;
  }

  /** Drops the producer and reconnects in the background; publishes answer 503 meanwhile. */
  private markDown(err: unknown): void {
    const producer = this.producer;
    this.producer = undefined;
    void producer?.disconnect().catch(() => undefined);
    if (this.closed || this.current === 'down') {
      return;
    }
    this.current = 'down';
    this.logger.warn(
      { err: (err as Error).message },
      'kafka unreachable; publishes answer 503 until it is back',
    );
    this.reconnecting ??= this.reconnect().finally(() => {
      this.reconnecting = undefined;
    });
  }

  /**
   * A keep-alive, not a redelivery: it waits with the shared Backoff until the broker is back,
   * at most 250 ms between attempts (ingest should accept soon after the broker is back).
   */
  private async reconnect(): Promise<void> {
    const backoff = new Backoff(100, 250);
    while (this.current === 'down' && !this.closed) {
      try {
        // An attempt against a dead broker sleeps through kafkajs's own retries (up to a
        // second each): try only once a broker accepts connections again.
        if (!(await anyAccepts(this.o.brokers))) {
          throw new Error('no broker accepts connections');
        }
        await this.getProducer();
        return;
      } catch {
        await backoff.wait(this.closing.signal);
      }
    }
  }

  /** Picks up partitions added to the topic by an operator. */
  private refreshPartitionsSoon(): void {
    if (Date.now() - this.partitionsAt < PARTITIONS_EVERY_MS) {
      return;
    }
    this.partitionsAt = Date.now();
    this.o.ensureTopic().then(
      (n) => {
        if (n !== this.partitions) {
          this.logger.info({ from: this.partitions, to: n }, 'kafka topic partition count changed');
          this.partitions = n;
        }
      },
      () => undefined,
    );
  }
}

/** Whether a TCP connection to any of the brokers opens within 500 ms. */
async function anyAccepts(brokers: string[]): Promise<boolean> {
  const one = (broker: string) =>
    new Promise<boolean>((resolve) => {
      const i = broker.lastIndexOf(':');
      const socket = connect({ host: broker.slice(0, i), port: Number(broker.slice(i + 1)) });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(500, () => done(false));
      socket.once('error', () => done(false));
      socket.once('connect', () => done(true));
    });
  return (await Promise.all(brokers.map(one))).some(Boolean);
}
