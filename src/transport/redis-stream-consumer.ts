import type { CanonicalEvent } from '../events/event.js';
import type { Logger } from '../logger.js';
import { Backoff, sleep } from '../retry.js';
import { chunkBy } from './group-commit.js';
import type { RedisClient } from './redis-client.js';
import { TRIM_SCRIPT } from './redis-stream-scripts.js';
import type { Batch, BatchLimits } from './transport.js';

export interface RedisConsumerDeps {
  /** Shared client: acks, reclaims, trims. */
  client: RedisClient;
  /** Dedicated connection for the blocking XREADGROUP. */
  reader: RedisClient;
  stream: string;
  group: string;
  consumer: string;
  reclaimIdleMs: number;
  log: Logger;
}

interface Entry {
  id: string;
  events: CanonicalEvent[];
}

type RawEntry = [id: string, fields: string[] | null];

const TRIM_EVERY_MS = 1000;
/** Consumers that own nothing and were idle this long are removed (live ones poll every second). */
const DEAD_CONSUMER_IDLE_MS = 3_600_000;

/**
 * The consumer loop: reclaim entries idle on other (dead) consumers, else read new ones; hand
 * them out in batches of whole entries, up to `concurrency` at once (the next batch is read and
 * parsed while the storage works on the previous one); XACK a batch only after the handler
 * resolved; trim.
 * A batch whose handler rejects is retried here with backoff (its entries stay pending and
 * their idle time is kept fresh, so no other consumer steals a batch that is being worked on).
 */
export class RedisStreamConsumer {
  private readonly reclaimEveryMs: number;
  /** Batches in the handler (or being acknowledged or released) right now. */
  private readonly inFlight = new Set<Promise<void>>();
  private avgEventsPerEntry = 1;
  private lastTrim = 0;
  private reclaimCursor = '0-0';
  /** Whether the last read returned fewer entries than asked for (nothing more was waiting). */
  private drained = true;

  constructor(
    private readonly d: RedisConsumerDeps,
    private readonly handler: (batch: Batch) => Promise<void>,
    private readonly limits: BatchLimits,
    private readonly signal: AbortSignal,
  ) {
    this.reclaimEveryMs = Math.max(50, Math.floor(d.reclaimIdleMs / 2));
  }

  async run(): Promise<void> {
    try {
      await this.loop();
    } finally {
      await Promise.all(this.inFlight);
    }
  }

  private async loop(): Promise<void> {
    const { log } = this.d;
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
          await this.ensureGroup();
          groupReady = true;
        }
        await this.freeSlot();
        if (this.signal.aborted) {
          return; // read nothing more only to release it
        }
        let entries: Entry[] = [];
        if (Date.now() - lastReclaim >= this.reclaimEveryMs) {
          entries = await this.reclaim();
          if (entries.length === 0) {
            lastReclaim = Date.now(); // a whole pass over the pending entries found nothing idle
          } else {
            log.info(
              { entries: entries.length },
              'reclaimed entries left pending by another consumer',
            );
          }
        }
        if (entries.length === 0) {
          entries = await this.read();
          entries = await this.topUp(entries);
        }
        if (!(await this.deliver(entries))) {
          return;
        }
        backoff.reset();
      } catch (err) {
        if (this.signal.aborted) {
          return;
        }
        if (String((err as Error).message).includes('NOGROUP')) {
          groupReady = false;
        }
        const delayMs = backoff.next();
        log.warn({ err: (err as Error).message, delayMs }, 'redis stream read failed; retrying');
        await sleep(delayMs, this.signal);
      }
    }
  }

  /** Entries read but not handled: mark them idle at once so another consumer (or our restart) takes them now. */
  async release(ids: string[]): Promise<void> {
    if (ids.length === 0) {
      return;
    }
    const { client, stream, group, consumer, reclaimIdleMs } = this.d;
    await client
      .sendCommand(
        ['XCLAIM', stream, group, consumer, '0', ...ids, 'IDLE', String(reclaimIdleMs), 'JUSTID'],
        { timeout: 2000 },
      )
      .catch((err: unknown) =>
        this.d.log.warn(
          { err: (err as Error).message },
          'could not release pending entries; they are reclaimed after the idle timeout',
        ),
      );
  }

  /** Removes our consumer from the group when it owns no pending entry (clean shutdown). */
  async leave(): Promise<void> {
    const { client, stream, group, consumer } = this.d;
    try {
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

  private async ensureGroup(): Promise<void> {
    const { client, stream, group } = this.d;
    try {
      // From the start of the stream: events published before the first worker ran are consumed.
      await client.sendCommand(['XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM'], {
        timeout: 5000,
      });
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) {
        throw err;
      }
    }
  }

  /** How many entries hold about `events` events (a batch by default). */
  private readCount(events = this.limits.maxEvents): number {
    return Math.max(1, Math.min(1000, Math.floor(events / this.avgEventsPerEntry)));
  }

  /**
   * Claims entries pending longer than the idle timeout (their consumer died), following the
   * XAUTOCLAIM cursor; returns the first non-empty step, or nothing after a whole pass.
   */
  private async reclaim(): Promise<Entry[]> {
    const { client, stream, group, consumer, reclaimIdleMs } = this.d;
    for (;;) {
      const [next, raw] = await client.sendCommand<[string, RawEntry[], string[]?]>(
        [
          'XAUTOCLAIM',
          stream,
          group,
          consumer,
          String(reclaimIdleMs),
          this.reclaimCursor,
          'COUNT',
          String(this.readCount()),
        ],
        { timeout: 5000 },
      );
      this.reclaimCursor = next;
      const entries = this.parse(raw);
      if (entries.length > 0 || next === '0-0') {
        return entries;
      }
    }
  }

  /**
   * New entries; blocks at most a second (also the stop latency), less when reclaims are due
   * sooner; `block` false: only what is there now.
   */
  private async read(block = true, count = this.readCount()): Promise<Entry[]> {
    const { reader, stream, group, consumer } = this.d;
    const ms = Math.min(1000, this.reclaimEveryMs);
    const reply = await reader.sendCommand<[string, RawEntry[]][] | null>([
      'XREADGROUP',
      'GROUP',
      group,
      consumer,
      'COUNT',
      String(count),
      ...(block ? ['BLOCK', String(ms)] : []),
      'STREAMS',
      stream,
      '>',
    ]);
    const raw = reply?.[0]?.[1] ?? [];
    this.drained = raw.length < count;
    return this.parse(raw);
  }

  /**
   * Batching by age as well as size: when a read emptied the stream and returned less than a
   * batch, waits `maxWaitMs` and reads once more (at most the rest of a batch), so light load
   * makes fewer, larger transactions (under a backlog, reads are full and nothing waits).
   */
  private async topUp(entries: Entry[]): Promise<Entry[]> {
    const { maxEvents, maxWaitMs } = this.limits;
    const events = entries.reduce((n, e) => n + e.events.length, 0);
    if (entries.length === 0 || maxWaitMs <= 0 || events >= maxEvents || !this.drained) {
      return entries;
    }
    await sleep(maxWaitMs, this.signal);
    if (this.signal.aborted) {
      return entries; // handed out (and released) by deliver
    }
    try {
      return entries.concat(await this.read(false, this.readCount(maxEvents - events)));
    } catch (err) {
      // Read but not handed out: let them be taken again at once, not after the idle timeout.
      await this.release(entries.map((e) => e.id));
      throw err;
    }
  }

  private parse(raw: RawEntry[]): Entry[] {
    const out: Entry[] = [];
    let events = 0;
    for (const [id, fields] of raw) {
      if (!fields) {
        continue; // deleted while pending
      }
      const i = fields.indexOf('e');
      try {
        const parsed = JSON.parse(fields[i + 1] ?? '') as CanonicalEvent[];
        out.push({ id, events: parsed });
        events += parsed.length;
      } catch {
        // Only Tally writes this stream; an entry it cannot read would block everything behind it.
        this.d.log.error({ id }, 'unreadable stream entry acknowledged without processing');
        out.push({ id, events: [] });
      }
    }
    if (out.length > 0) {
      this.avgEventsPerEntry = 0.7 * this.avgEventsPerEntry + (0.3 * events) / out.length;
    }
    return out;
  }

  /**
   * Hands the entries out in batches, waiting for a free slot before each; returns once all are
   * handed out (not handled). Returns false when stopped first: what was not handed out is
   * released, and so is each batch whose handler was stopped.
   */
  private async deliver(entries: Entry[]): Promise<boolean> {
    const chunks = chunkBy(entries, (e) => e.events.length, this.limits.maxEvents);
    for (let i = 0; i < chunks.length; i++) {
      await this.freeSlot();
      if (this.signal.aborted) {
        await this.release(chunks.slice(i).flatMap((c) => c.map((e) => e.id)));
        return false;
      }
      const chunk = chunks[i]!;
      const ids = chunk.map((e) => e.id);
      const done: Promise<void> = this.handle(
        chunk.flatMap((e) => e.events),
        ids,
      )
        .then((ok) => (ok ? this.ack(ids) : this.release(ids)))
        .catch((err: unknown) => this.d.log.error({ err }, 'batch delivery failed'))
        .finally(() => this.inFlight.delete(done));
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
  private async freeSlot(): Promise<void> {
    while (this.inFlight.size >= this.limits.concurrency) {
      await Promise.race(this.inFlight);
    }
  }

  /** Runs the handler until it resolves; false if stopped first. Keeps the entries' idle time fresh meanwhile. */
  private async handle(events: CanonicalEvent[], ids: string[]): Promise<boolean> {
    if (events.length === 0) {
      return true;
    }
    const { client, stream, group, consumer, reclaimIdleMs, log } = this.d;
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
      const backoff = new Backoff(100, 5000);
      for (;;) {
        if (this.signal.aborted) {
          return false;
        }
        try {
          await this.handler({ events });
          return true;
        } catch (err) {
          if (this.signal.aborted) {
            return false;
          }
          const delayMs = backoff.next();
          log.error(
            { err, delayMs, events: events.length },
            'batch handler failed; will redeliver',
          );
          await sleep(delayMs, this.signal);
        }
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async ack(ids: string[]): Promise<void> {
    const { client, stream, group, log } = this.d;
    try {
      await client.sendCommand(['XACK', stream, group, ...ids], { timeout: 5000 });
    } catch (err) {
      // Stays pending: reclaimed after the idle timeout and deduplicated by the aggregator.
      log.warn(
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
    const { client, stream, group, consumer, log } = this.d;
    client
      .sendCommand(
        ['EVAL', TRIM_SCRIPT, '1', stream, group, String(DEAD_CONSUMER_IDLE_MS), consumer],
        { timeout: 5000 },
      )
      .catch((err: unknown) =>
        log.warn({ err: (err as Error).message }, 'stream trim failed; will retry'),
      );
  }
}
