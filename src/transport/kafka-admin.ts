import type { Admin, Kafka, RetryOptions } from 'kafkajs';
import type { Logger } from '../logger.js';

export interface PartitionOffsets {
  partition: number;
  low: number;
  high: number;
  committed: number;
}

/** Messages past the group's committed offsets, over all partitions. */
export const lagOf = (offsets: PartitionOffsets[]): number =>
  offsets.reduce((sum, p) => sum + Math.max(0, p.high - Math.max(p.committed, p.low)), 0);

/**
 * The admin side of the Kafka transport: creates the topic, reads its partition count and the
 * partitions' offsets (the group's lag, losses). A failed call replaces the admin client (kafkajs admins do not always reconnect).
 */
export class KafkaAdmin {
  private admin: Promise<Admin> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly retry: RetryOptions,
    private readonly logger: Logger,
  ) {}

  /** Creates the topic with `partitions` partitions when missing; returns its partition count. */
  ensureTopic(topic: string, partitions: number): Promise<number> {
    return this.call(async (admin) => {
      if (
        await admin.createTopics({
          topics: [{ topic, numPartitions: partitions }],
          waitForLeaders: true,
        })
      ) {
        this.logger.info({ topic, partitions }, 'created kafka topic');
      }
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const n = meta.topics[0]?.partitions.length ?? 0;
      if (n === 0) {
        throw new Error(`kafka topic ${topic} has no partitions`);
      }
      return n;
    });
  }

  /** Per partition: the first and next offsets in the log and the group's committed offset (-1: none). */
  offsets(topic: string, groupId: string): Promise<PartitionOffsets[]> {
    return this.call(async (admin) => {
      const [ends, committed] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId, topics: [topic] }),
      ]);
      const done = new Map(
        (committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
      );
      return ends.map((p) => ({
        partition: p.partition,
        low: Number(p.low),
        high: Number(p.high),
        committed: done.get(p.partition) ?? -1,
      }));
    });
  }

  /** Whether the topic exists (one metadata request, not retried as a missing topic is). */
  hasTopic(topic: string): Promise<boolean> {
    return this.call(async (admin) => (await admin.listTopics()).includes(topic));
  }

  async close(): Promise<void> {
    const p = this.admin;
    this.admin = undefined;
    await p?.then((a) => a.disconnect()).catch(() => undefined);
  }

  private async call<V>(fn: (admin: Admin) => Promise<V>): Promise<V> {
    this.admin ??= (async () => {
      const admin = this.kafka.admin({ retry: this.retry });
      await admin.connect();
      return admin;
    })();
    const p = this.admin;
    try {
      return await fn(await p);
    } catch (err) {
      if (this.admin === p) {
        this.admin = undefined;
        void p.then((a) => a.disconnect()).catch(() => undefined);
      }
      throw err;
    }
  }
}
