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
  /** How far this process's consumer has taken each partition in hand: read, so not lost. */
  readonly holding = new HeldOffsets((partition, messages) =>
    this.report(partition, 'a batch held when the topic was deleted was given up', messages),
  );

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
        this.report(p.partition, 'an out-of-range offset was reset (count unknown)', undefined);
      }
      this.last.set(p.partition, p);
    }
  }

  /** The topic is gone: what was not consumed at the last reading is lost. */
  vanished(): void {
    for (const [partition, before] of this.last) {
      this.explained.set(partition, Date.now());
      const events = this.unconsumed(before);
      this.holding.restart(partition, before, 0); // created again, from offset 0
      this.report(partition, 'the topic was deleted under the group', events);
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
      const events = this.unconsumed(before);
      // The same incident seen again (e.g. the offset of a batch taken from the deleted topic
      // committed to the new one, before kafkajs resets it): nothing more is lost. Not a new
      // incident, which the drop ledger would count as at least one message.
      if (events === 0 && this.isExplained(p.partition)) {
        return undefined;
      }
      this.reportedLow.delete(p.partition);
      this.explained.set(p.partition, Date.now());
      // The consumer goes on from the group's offset in the new topic (a committed offset past
      // its end is the old topic's), or from its start.
      const resume = p.committed > p.high ? p.low : Math.max(p.committed, p.low);
      this.holding.restart(p.partition, before, resume);
      return { reason: 'the topic was deleted or truncated under the group', events };
    }
    const from = Math.max(
      p.committed,
      this.reportedLow.get(p.partition) ?? -1,
      this.holding.upTo(p.partition),
    );
    if (p.committed >= 0 && from < p.low) {
      this.reportedLow.set(p.partition, p.low);
      return {
        reason: 'messages the group had not consumed were removed (retention or deleteRecords)',
        events: p.low - from,
      };
    }
    return undefined;
  }

  /**
   * What was not consumed at the reading `p`, less what this consumer took in hand since (held
   * or applied, so counted, whether or not the reading saw its commit).
   */
  private unconsumed(p: PartitionOffsets): number {
    const from = Math.max(p.committed, p.low, this.holding.upTo(p.partition));
    return Math.max(0, p.high - from);
  }

  private isExplained(partition: number): boolean {
    const at = this.explained.get(partition);
    return at !== undefined && Date.now() - at < EXPLAINED_MS;
  }

  private report(partition: number, reason: string, events: number | undefined): void {
    this.losses.record(
      { reason: `kafka: ${reason} (topic ${this.topic}, partition ${partition})`, events },
      this.owned.has(partition),
    );
  }
}

/** How long after a deleted topic is found an offset reset of its partitions is put down to it. */
const EXPLAINED_MS = 60_000;

/**
 * Per partition, the offset up to which this process's consumer has taken messages in hand:
 * from the group's committed offset up to it, every message was applied or is being applied
 * (it will be counted), so no loss may include it. Offsets, not a count of the batch in the
 * handler: a batch fetched but not yet handed over, and a batch applied whose commit no reading
 * has seen yet, are both covered; a batch given up (redelivered from the committed offset) is
 * given back. A deleted topic starts an incarnation: what the consumer still holds of the old
 * one is counted, but its offsets mean nothing in the new one (`current` turns false).
 */
export class HeldOffsets {
  private reach = new Map<number, number>();
  private epochs = new Map<number, number>();
  /** Per partition, the messages in hand that the loss of the last incarnation left out. */
  private excluded = new Map<number, { epoch: number; from: number; to: number }>();
  /** Per partition, where the consumer goes on in the topic created again. */
  private resume = new Map<number, number>();

  /** Told of messages left out of a loss (in hand) and then given back: lost after all. */
  constructor(private readonly onGivenUp: (partition: number, messages: number) => void) {}

  /** Messages up to `next` (exclusive) taken in hand; returns the incarnation they belong to. */
  take(partition: number, next: number): number {
    this.reach.set(partition, Math.max(this.reach.get(partition) ?? -1, next));
    return this.epoch(partition);
  }

  /** Messages from `from` on were given back unapplied, to be read again. */
  giveBack(partition: number, epoch: number, from: number): void {
    const reach = this.reach.get(partition);
    if (this.current(partition, epoch)) {
      if (reach !== undefined && from < reach) {
        this.reach.set(partition, from);
      }
      return;
    }
    // Taken from a topic since deleted: nobody reads these again.
    const ex = this.excluded.get(partition);
    if (ex?.epoch === epoch && Math.max(from, ex.from) < ex.to) {
      const lost = ex.to - Math.max(from, ex.from);
      ex.to -= lost;
      this.onGivenUp(partition, lost);
    }
  }

  /** Whether messages taken in incarnation `epoch` still belong to the partition's topic. */
  current(partition: number, epoch: number): boolean {
    return this.epoch(partition) === epoch;
  }

  /** Where the consumer goes on after the partition's topic was found deleted under it. */
  resumeAt(partition: number): number {
    return this.resume.get(partition) ?? 0;
  }

  /** The offset below which every message was taken in hand (-1: none). */
  upTo(partition: number): number {
    return this.reach.get(partition) ?? -1;
  }

  /**
   * The partition's topic was found deleted: its offsets start again. `lostAt` is the reading
   * the loss was counted from (what was in hand above its committed offset was left out);
   * `resume`, where the consumer goes on.
   */
  restart(partition: number, lostAt: PartitionOffsets, resume: number): void {
    this.resume.set(partition, resume);
    const reach = this.reach.get(partition);
    const from = Math.max(lostAt.committed, lostAt.low);
    const to = Math.min(reach ?? -1, lostAt.high);
    if (from < to) {
      this.excluded.set(partition, { epoch: this.epoch(partition), from, to });
    } else {
      this.excluded.delete(partition);
    }
    this.reach.delete(partition);
    this.epochs.set(partition, this.epoch(partition) + 1);
  }

  private epoch(partition: number): number {
    return this.epochs.get(partition) ?? 0;
  }
}
