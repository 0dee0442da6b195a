import type { CanonicalEvent } from '../events/event.js';
import { deliver } from './deliver.js';
import { chunkBy } from './chunk-by.js';
import { release, type Entry, type RedisConsumerDeps } from './redis-stream-reader.js';
import { TRIM_SCRIPT } from './redis-stream-scripts.js';
import type { Batch, BatchLimits, Undecodable } from './transport.js';

const TRIM_EVERY_MS = 1000;
/** Consumers that own nothing and were idle this long are removed (live ones poll every second). */
const DEAD_CONSUMER_IDLE_MS = 3_600_000;

/**
 * The in-flight side of a Redis Streams consumer: hands entries out in batches of whole
 * entries, up to `concurrency` at once, each through `deliver` (the one owner of redelivery)
 * while keeping its entries' idle time fresh; XACKs a batch only after the handler resolved,
 * releases what was not handled, trims.
 */
export class StreamDelivery {
  /** Batches in the handler (or being acknowledged or released) right now. */
  private readonly inFlight = new Set<Promise<void>>();
  private lastTrim = 0;

  constructor(
    private readonly d: RedisConsumerDeps,
    private readonly handler: (batch: Batch) => Promise<void>,
    private readonly limits: BatchLimits,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * Hands the entries out in batches, waiting for a free slot before each; returns once all are
   * handed out (not handled). Returns false when stopped first: what was not handed out is
   * released, and so is each batch whose handler was stopped.
   */
  async handOut(entries: Entry[]): Promise<boolean> {
    const chunks = chunkBy(entries, (e) => e.events.length, this.limits.maxEvents);
    for (let i = 0; i < chunks.length; i++) {
      await this.freeSlot();
      if (this.signal.aborted) {
        const rest = chunks.slice(i).flatMap((c) => c.map((e) => e.id));
        this.d.guard.holding -= rest.length;
        await release(this.d, rest);
        return false;
      }
      const chunk = chunks[i]!;
      const ids = chunk.map((e) => e.id);
      // Held since the read (StreamReader.parse), also while waiting here for a slot: Redis
      // forgetting them then loses nothing, since they are still handled.
      const done: Promise<void> = this.handle(
        chunk.flatMap((e) => e.events),
        chunk.flatMap((e) => (e.undecodable ? [e.undecodable] : [])),
        ids,
      )
        .then((ok) => (ok ? this.ack(ids) : release(this.d, ids)))
        .catch((err: unknown) => this.d.logger.error({ err }, 'batch delivery failed'))
        .finally(() => {
          this.d.guard.holding -= ids.length;
          this.inFlight.delete(done);
        });
      this.inFlight.add(done);
    }
    this.maybeTrim();
    return true;
  }

  /**
   * Reads wait for a free slot, so entries are held without a keep-alive only while a batch
   * lingers (`maxWaitMs`, kept well below the reclaim timeout by the configuration) or, when a
   * read returned more than one batch, while the rest waits here for a slot.
   */
  async freeSlot(): Promise<void> {
    while (this.inFlight.size >= this.limits.concurrency) {
      await Promise.race(this.inFlight);
    }
  }

  /** Resolves once every batch handed out has finished (acknowledged or released). */
  async settled(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  /**
   * Hands the batch to the handler through `deliver` until it resolves; false if stopped first.
   * Keeps the entries' idle time fresh meanwhile, so no other consumer steals a batch that is
   * being worked on (or waits for its redelivery).
   */
  private async handle(
    events: CanonicalEvent[],
    undecodable: Undecodable[],
    ids: string[],
  ): Promise<boolean> {
    if (events.length === 0 && undecodable.length === 0) {
      return true;
    }
    const { client, stream, group, consumer, reclaimIdleMs, logger } = this.d;
    const keepAlive = setInterval(
      () => {
        void client
          .sendCommand(['XCLAIM', stream, group, consumer, '0', ...ids, 'JUSTID'], {
            timeout: 2000,
          })
          .catch(() => undefined);
      },
      Math.max(50, Math.floor(reclaimIdleMs / 3)),
    );
    try {
      const batch: Batch = undecodable.length > 0 ? { events, undecodable } : { events };
      return await deliver(this.handler, batch, { signal: this.signal, logger });
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async ack(ids: string[]): Promise<void> {
    const { client, stream, group, logger } = this.d;
    try {
      await client.sendCommand(['XACK', stream, group, ...ids], { timeout: 5000 });
    } catch (err) {
      if (String((err as Error).message).includes('NOGROUP')) {
        void this.d.guard.check().catch(() => undefined);
      }
      // Stays pending: reclaimed after the idle timeout and deduplicated by the aggregator.
      logger.warn(
        { err: (err as Error).message, entries: ids.length },
        'XACK failed; entries will be redelivered',
      );
    }
  }

  private maybeTrim(): void {
    if (Date.now() - this.lastTrim < TRIM_EVERY_MS) {
      return;
    }
    this.lastTrim = Date.now();
    const { client, stream, group, consumer, logger } = this.d;
    client
      .sendCommand(
        ['EVAL', TRIM_SCRIPT, '1', stream, group, String(DEAD_CONSUMER_IDLE_MS), consumer],
        { timeout: 5000 },
      )
      .catch((err: unknown) =>
        logger.warn({ err: (err as Error).message }, 'stream trim failed; will retry'),
      );
  }
}
