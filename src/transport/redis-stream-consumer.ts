import { Backoff, sleep } from '../retry.js';
import { StreamDelivery } from './redis-stream-delivery.js';
import {
  heartbeatKey,
  StreamReader,
  type Entry,
  type RedisConsumerDeps,
} from './redis-stream-reader.js';
import type { Batch, BatchLimits } from './transport.js';

/**
 * The consumer loop: keep our heartbeat (a key with a TTL of `reclaimIdleMs`, refreshed three
 * times per TTL, on its own timer: a slow batch does not stop it); reclaim entries pending on
 * consumers whose heartbeat expired, else read new ones
 * (redis-stream-reader.ts); hand them out in batches of whole entries, up to `concurrency` at
 * once (the next batch is read and parsed while the storage works on the previous one); XACK a
 * batch only after the handler resolved; trim (redis-stream-delivery.ts).
 * A batch whose handler rejects is redelivered by `deliver` with backoff (its entries stay
 * pending and their idle time is kept fresh, so no other consumer steals a batch that is being
 * worked on). A failed read is retried here, with its own backoff: a keep-alive.
 */
export class RedisStreamConsumer {
  private readonly reader: StreamReader;
  private readonly delivery: StreamDelivery;

  constructor(
    private readonly d: RedisConsumerDeps,
    handler: (batch: Batch) => Promise<void>,
    limits: BatchLimits,
    private readonly signal: AbortSignal,
  ) {
    this.reader = new StreamReader(d, limits, signal);
    this.delivery = new StreamDelivery(d, handler, limits, signal);
  }

  async run(): Promise<void> {
    this.d.guard.consuming = true;
    await this.beat();
    const heartbeat = setInterval(
      () => void this.beat(),
      Math.max(100, Math.floor(this.d.reclaimIdleMs / 3)),
    );
    try {
      await this.loop();
    } finally {
      clearInterval(heartbeat);
      this.d.guard.consuming = false;
      await this.delivery.settled();
    }
  }

  private async beat(): Promise<void> {
    const { client, consumer, reclaimIdleMs } = this.d;
    await client
      .sendCommand(['SET', heartbeatKey(this.d, consumer), '1', 'PX', String(reclaimIdleMs)], {
        timeout: 2000,
      })
      .catch(() => undefined); // Redis away: nobody can reclaim meanwhile either
  }

  /**
   * Clean shutdown: drops our heartbeat (what we released is taken over at once), and removes
   * our consumer from the group when it owns no pending entry.
   */
  async leave(): Promise<void> {
    const { client, stream, group, consumer } = this.d;
    try {
      await client.sendCommand(['DEL', heartbeatKey(this.d, consumer)], { timeout: 2000 });
      const mine = await client.sendCommand<unknown[]>(
        ['XPENDING', stream, group, '-', '+', '1', consumer],
        { timeout: 2000 },
      );
      if (mine.length === 0) {
        await client.sendCommand(['XGROUP', 'DELCONSUMER', stream, group, consumer], {
          timeout: 2000,
        });
      }
    } catch {
      // The consumer stays listed; the trim script removes it after an hour of idleness.
    }
  }

  private async loop(): Promise<void> {
    const { logger } = this.d;
    let groupReady = false;
    let lastReclaim = 0;
    const backoff = new Backoff(100, 5000);
    while (!this.signal.aborted) {
      try {
        if (!this.d.reader.isReady) {
          await sleep(100, this.signal);
          continue;
        }
        if (!groupReady) {
          await this.reader.ensureGroup();
          groupReady = true;
        }
        await this.delivery.freeSlot();
        if (this.signal.aborted) {
          return; // read nothing more only to release it
        }
        let entries: Entry[] = [];
        if (Date.now() - lastReclaim >= this.reader.reclaimEveryMs) {
          entries = await this.reader.reclaim();
          if (entries.length === 0) {
            lastReclaim = Date.now(); // a whole pass over the pending entries found nothing idle
          } else {
            logger.info(
              { entries: entries.length },
              'reclaimed entries left pending by another consumer',
            );
          }
        }
        if (entries.length === 0) {
          entries = await this.reader.read();
          entries = await this.reader.topUp(entries);
        }
        if (!(await this.delivery.handOut(entries))) {
          return;
        }
        backoff.reset();
      } catch (err) {
        if (this.signal.aborted) {
          return;
        }
        if (String((err as Error).message).includes('NOGROUP')) {
          // The group (or the stream) vanished under us: find out whether Redis lost data.
          groupReady = false;
          await this.d.guard.check().catch(() => undefined);
        }
        const delayMs = backoff.next();
        logger.warn({ err: (err as Error).message, delayMs }, 'redis stream read failed; retrying');
        await sleep(delayMs, this.signal);
      }
    }
  }
}
