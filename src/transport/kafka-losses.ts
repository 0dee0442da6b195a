import type { LogLosses } from './broker-transport.js';
import type { PartitionOffsets } from './kafka-admin.js';

/**
 * Finds messages Kafka dropped before the group consumed them, from the partitions' offsets as
 * read for the backlog (every 2 s, in every process) and at once when kafkajs resets an offset
 * that is out of range:
 * - the group's committed offset is below the partition's first offset (retention or
 *   `deleteRecords` removed what it had not consumed): `low − committed` messages lost;
 * - the topic is gone, or a partition's end went back, or the committed offset is past it (the
 *   topic was deleted, and perhaps created again): what was not consumed at the last reading
 *   is lost. A missing topic is created again, so that the log takes events again.
 * Each finding is logged at error level and counted (`stats().lost`) in every process that makes
 * it; the consumer that owns the partition reports it (the drop ledger counts it once).
 * Counts are messages, each holding at least one event: a lower bound.
 */
export class KafkaLossWatch {
  private last = new Map<number, PartitionOffsets>();
  /** Per partition, the first offset up to which a gap was already reported. */
  private reportedLow = new Map<number, number>();
  /** Partitions a kafkajs offset reset is pending an explanation for. */
  private resets = new Set<number>();
  /**
   * Partitions whose topic was found deleted, and when: the offset reset that follows (a
   * committed offset past the new topic's end) is the same incident, not another.
   */
  private explained = new Map<number, number>();
  /** The partitions this process's consumer owns (none in an API process). */
  readonly owned = new Set<number>();
  /** Per partition, messages in batches this process's consumer is handling: read, so not lost. */
  readonly holding = new Map<number, number>();

  constructor(
    private readonly topic: string,
    private readonly losses: LogLosses,
  ) {}

  /** Reads the offsets now (set by the transport once its admin client exists). */
  read: (() => Promise<PartitionOffsets[]>) | undefined;

  /**
   * kafkajs reset an out-of-range offset of `partition`: the offsets are read at once, while the
   * group's committed offset still says where it was (it moves with the next batch's commit).
   */
  outOfRange(partition: number): void {
    this.resets.add(partition);
    void this.read?.().then(
      (offsets) => this.observe(offsets),
      () => undefined, // the next backlog reading tells
    );
  }

  /** A fresh reading of the offsets. */
  observe(now: PartitionOffsets[]): void {
    for (const p of now) {
      const before = this.last.get(p.partition);
      const found = this.find(p, before);
      const reset = this.resets.delete(p.partition);
      if (found) {
        this.report(p.partition, found.reason, found.events);
      } else if (reset && !this.isExplained(p.partition)) {
        this.report(p.partition, 'an out-of-range offset was reset (count unknown)', 0);
      }
      this.last.set(p.partition, p);
    }
  }

  /** The topic is gone: what was not consumed at the last reading is lost. */
  vanished(): void {
    for (const [partition, before] of this.last) {
      this.explained.set(partition, Date.now());
      this.report(partition, 'the topic was deleted under the group', this.unconsumed(before));
    }
    this.last.clear();
    this.reportedLow.clear();
  }

  private find(
    p: PartitionOffsets,
    before: PartitionOffsets | undefined,
  ): { reason: string; events: number } | undefined {
    if (
      before &&
      (p.high < before.high || (p.committed > p.high && before.committed <= before.high))
    ) {
      this.reportedLow.delete(p.partition);
      this.explained.set(p.partition, Date.now());
      return {
        reason: 'the topic was deleted or truncated under the group',
        events: this.unconsumed(before),
      };
    }
    const from = Math.max(p.committed, this.reportedLow.get(p.partition) ?? -1);
    if (p.committed >= 0 && from < p.low) {
      this.reportedLow.set(p.partition, p.low);
      return {
        reason: 'messages the group had not consumed were removed (retention or deleteRecords)',
        events: p.low - from,
      };
    }
    return undefined;
  }

  /** What was not consumed at the reading `p`, less what this consumer holds (still counted). */
  private unconsumed(p: PartitionOffsets): number {
    const held = this.holding.get(p.partition) ?? 0;
    return Math.max(0, p.high - Math.max(p.committed, p.low) - held);
  }

  private isExplained(partition: number): boolean {
    const at = this.explained.get(partition);
    return at !== undefined && Date.now() - at < EXPLAINED_MS;
  }

  private report(partition: number, reason: string, events: number): void {
    this.losses.record(
      { reason: `kafka: ${reason} (topic ${this.topic}, partition ${partition})`, events },
      this.owned.has(partition),
    );
  }
}

/** How long after a deleted topic is found an offset reset of its partitions is put down to it. */
const EXPLAINED_MS = 60_000;
