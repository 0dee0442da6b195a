import type { CanonicalEvent } from '../events/event.js';
import type { Logger } from '../logger.js';
import { sleep } from '../retry.js';
import type { RedisClient } from './redis-client.js';
import type { StreamGuard } from './redis-stream-guard.js';
import { RECLAIM_SCRIPT } from './redis-stream-scripts.js';
import type { BatchLimits, Undecodable } from './transport.js';

/**
 * The reading side of a Redis Streams consumer: creates the group, reclaims entries pending on
 * dead consumers (those whose heartbeat expired: RECLAIM_SCRIPT), reads new ones (XREADGROUP),
 * tops a short read up (batching by age), parses entries (an entry that is not an event array
 * is handed out as undecodable, to be dead-lettered), and gives back entries read but not
 * handled (`release`).
 */

export interface RedisConsumerDeps {
  /** Shared client: acks, reclaims, trims. */
  client: RedisClient;
  /** Dedicated connection for the blocking XREADGROUP. */
  reader: RedisClient;
  stream: string;
  group: string;
  consumer: string;
  /** A consumer whose heartbeat is this old is presumed dead (also the heartbeat's TTL). */
  reclaimIdleMs: number;
  /** Finds losses; told every entry id read. */
  guard: StreamGuard;
  logger: Logger;
}

export interface Entry {
  id: string;
  events: CanonicalEvent[];
  undecodable?: Undecodable;
}

/** How much of an undecodable entry is kept in its dead letter. */
export const UNDECODABLE_MAX_CHARS = 4096;

/** The key a live consumer keeps (with a TTL) to say so: `<stream>:alive:<group>:<consumer>`. */
export const heartbeatKey = (d: Pick<RedisConsumerDeps, 'stream' | 'group'>, consumer = '') =>
  `${d.stream}:alive:${d.group}:${consumer}`;

type RawEntry = [id: string, fields: string[] | null];

export class StreamReader {
  readonly reclaimEveryMs: number;
  private avgEventsPerEntry = 1;
  private reclaimCursor = '-';
  /** Whether the last read returned fewer entries than asked for (nothing more was waiting). */
  private drained = true;

  constructor(
    private readonly d: RedisConsumerDeps,
    private readonly limits: BatchLimits,
    private readonly signal: AbortSignal,
  ) {
    this.reclaimEveryMs = Math.max(50, Math.floor(d.reclaimIdleMs / 2));
  }

  async ensureGroup(): Promise<void> {
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

  /**
   * Claims entries pending on consumers whose heartbeat expired (they died), idle at least the
   * heartbeat's TTL, following a cursor over the pending entries; returns the first non-empty
   * step, or nothing after a whole pass. A live consumer's entries stay its own.
   */
  async reclaim(): Promise<Entry[]> {
    const { client, stream, group, consumer, reclaimIdleMs } = this.d;
    for (;;) {
      const [next, raw] = await client.sendCommand<[string, RawEntry[]]>(
        [
          'EVAL',
          RECLAIM_SCRIPT,
          '1',
          stream,
          group,
          consumer,
          String(reclaimIdleMs),
          String(this.readCount()),
          heartbeatKey(this.d),
          this.reclaimCursor,
        ],
        { timeout: 5000 },
      );
      this.reclaimCursor = next;
      const entries = this.parse(raw);
      if (entries.length > 0 || next === '-') {
        return entries;
      }
    }
  }

  /**
   * New entries; blocks at most a second (also the stop latency), less when reclaims are due
   * sooner; `block` false: only what is there now.
   */
  async read(block = true, count = this.readCount()): Promise<Entry[]> {
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
  async topUp(entries: Entry[]): Promise<Entry[]> {
    const { maxEvents, maxWaitMs } = this.limits;
    const events = entries.reduce((n, e) => n + e.events.length, 0);
    if (entries.length === 0 || maxWaitMs <= 0 || events >= maxEvents || !this.drained) {
      return entries;
    }
    await sleep(maxWaitMs, this.signal);
    if (this.signal.aborted) {
      return entries; // handed out (and released) by the delivery
    }
    try {
      return entries.concat(await this.read(false, this.readCount(maxEvents - events)));
    } catch (err) {
      // Read but not handed out: let them be taken again at once, not after the idle timeout.
      this.d.guard.holding -= entries.length;
      await release(
        this.d,
        entries.map((e) => e.id),
      );
      throw err;
    }
  }

  /** How many entries hold about `events` events (a batch by default). */
  private readCount(events = this.limits.maxEvents): number {
    return Math.max(1, Math.min(1000, Math.floor(events / this.avgEventsPerEntry)));
  }

  private parse(raw: RawEntry[]): Entry[] {
    const out: Entry[] = [];
    let events = 0;
    for (const [id, fields] of raw) {
      if (!fields) {
        continue; // deleted while pending
      }
      this.d.guard.saw(id);
      const entry = decode(id, fields);
      if (entry.undecodable) {
        // Only Tally writes this stream; an entry it cannot read is dead-lettered, not retried.
        this.d.logger.error(
          { id, reason: entry.undecodable.reason },
          'undecodable stream entry; dead-lettered with its batch',
        );
      }
      out.push(entry);
      events += entry.events.length;
    }
    // In this consumer's hands from the moment they are read (not lost if Redis forgets them):
    // handed back by the delivery when their batch ends or they are released.
    this.d.guard.holding += out.length;
    if (out.length > 0) {
      this.avgEventsPerEntry = 0.7 * this.avgEventsPerEntry + (0.3 * events) / out.length;
    }
    return out;
  }
}

/** An entry's events, or, when it holds no event array, its raw text and why. */
function decode(id: string, fields: string[]): Entry {
  const i = fields.indexOf('e');
  const undecodable = (payload: string, reason: string): Entry => ({
    id,
    events: [],
    undecodable: {
      payload: payload.slice(0, UNDECODABLE_MAX_CHARS),
      reason: `${reason} (entry ${id})`,
    },
  });
  if (i < 0 || i % 2 !== 0 || fields[i + 1] === undefined) {
    return undecodable(JSON.stringify(fields), 'no field "e"');
  }
  const raw = fields[i + 1]!;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return undecodable(raw, `not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((e) => typeof e === 'object' && e !== null)) {
    return undecodable(raw, 'not an array of events');
  }
  return { id, events: parsed as CanonicalEvent[] };
}

/** Entries read but not handled: mark them idle at once so another consumer (or our restart) takes them now. */
export async function release(d: RedisConsumerDeps, ids: string[]): Promise<void> {
  if (ids.length === 0) {
    return;
  }
  const { client, stream, group, consumer, reclaimIdleMs } = d;
  await client
    .sendCommand(
      ['XCLAIM', stream, group, consumer, '0', ...ids, 'IDLE', String(reclaimIdleMs), 'JUSTID'],
      { timeout: 2000 },
    )
    .catch((err: unknown) =>
      d.logger.warn(
        { err: (err as Error).message },
        'could not release pending entries; they are reclaimed after the idle timeout',
      ),
    );
}
