import { unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { CanonicalEvent } from '../../events/event.js';
import type { Logger } from '../../logger.js';
import type { Undecodable } from '../transport.js';
import { decodeRecord, fsyncDir, openSegment, scanSegment, segmentName } from './segment-files.js';
import type { WrittenLog } from './writer.js';

/**
 * The reading half of the embedded log: the consumer's position, batch reads from the segment
 * files, the waits for data and for a fuller batch (linger), and the deletion of consumed
 * segments once storage has released them.
 */

const READ_CHUNK = 4 * 1024 * 1024;
/**
 * Payload bytes decoded between two turns of the event loop. A batch is read ahead while the
 * one before it is in its transaction; decoding all of it at once (a few MB: 10-20 ms) held up
 * the replies of that transaction's statements, and the database's thread waited.
 */
const DECODE_SLICE_BYTES = 256 * 1024;
/** How much of an undecodable record's payload its dead letter keeps. */
export const UNDECODABLE_KEEP_CHARS = 16 * 1024;

/** What `readBatch` read: the events, the records that did not decode, where they end. */
export interface ReadBatch {
  events: CanonicalEvent[];
  undecodable: Undecodable[];
  /** The events the records' headers counted (undecodable ones included). */
  counted: number;
  next: number;
}

/**
 * The events of an intact record (its checksum matched), or why it holds none: a record that
 * is not a JSON array (written by something else, or by a bug) is handed on as undecodable, to
 * be dead-lettered, instead of stopping the reader.
 */
export function decodeEvents(
  payload: Buffer,
  position: number,
): { events: CanonicalEvent[] } | { undecodable: Undecodable } {
  const text = payload.toString();
  let reason: string;
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed)) {
      // Events that are not storable are dead-lettered one by one by the aggregator.
      return { events: parsed as CanonicalEvent[] };
    }
    reason = `not an array of events (${parsed === null ? 'null' : typeof parsed})`;
  } catch (err) {
    reason = `not JSON (${(err as Error).message})`;
  }
  const cut = text.length > UNDECODABLE_KEEP_CHARS;
  return {
    undecodable: {
      payload: cut ? text.slice(0, UNDECODABLE_KEEP_CHARS) : text,
      reason:
        `${reason}; embedded log record at position ${position}, ${payload.length} bytes` +
        (cut ? `, first ${UNDECODABLE_KEEP_CHARS} characters kept` : ''),
    },
  };
}

export class LogReader {
  private pos: number;
  /** The writer's event count at which no event waits: waiting = eventsWritten - mark. */
  private consumedMark = 0;
  private handle: { base: number; fh: FileHandle } | undefined;
  /** The consumer's `release` (see ConsumeOptions), from `startFrom`. */
  private release: (() => Promise<void>) | undefined;

  constructor(
    private readonly dir: string,
    private readonly written: WrittenLog,
    private readonly logger: Logger,
  ) {
    this.pos = written.segments[0]!;
  }

  /** The consumer's position: everything before it was handed out and acknowledged. */
  get position(): number {
    return this.pos;
  }

  /** Events written and not yet acknowledged (a lower bound, as LogStats says). */
  get waiting(): number {
    return this.written.eventsWritten - this.consumedMark;
  }

  /**
   * Moves to the committed `checkpoint` (the log's start when there is none, or when it lies
   * past the end), deletes what lies before it and counts the events after it.
   */
  async startFrom(checkpoint: string | undefined, release?: () => Promise<void>): Promise<void> {
    const first = this.written.segments[0]!;
    let pos = checkpoint === undefined ? first : Number(checkpoint);
    if (!Number.isSafeInteger(pos) || pos > this.written.end) {
      this.logger.warn(
        { checkpoint, end: this.written.end },
        'stored position is past the log end (log reset?); reading the log from its start',
      );
      pos = first;
    } else if (pos < first) {
      pos = first;
    }
    this.pos = pos;
    this.release = release;
    await this.deleteConsumedSegments(release);
    const counted = await this.countEvents(pos);
    this.consumedMark = this.written.eventsWritten - counted;
  }

  /** Resolves once there is something to read, or `abort` fired. */
  async waitForData(abort: AbortSignal): Promise<void> {
    const { arrived } = this.written;
    for (;;) {
      const seen = arrived.generation;
      if (abort.aborted || this.pos < this.written.end) {
        return;
      }
      await arrived.wait(seen, undefined, abort);
    }
  }

  /** Waits (at most `maxWaitMs`) while fewer than a batch of events are waiting. */
  async linger(maxEvents: number, maxWaitMs: number, abort: AbortSignal): Promise<void> {
    const { arrived } = this.written;
    const until = Date.now() + maxWaitMs;
    for (;;) {
      const seen = arrived.generation;
      if (abort.aborted || this.waiting >= maxEvents) {
        return;
      }
      const left = until - Date.now();
      if (left <= 0) {
        return;
      }
      await arrived.wait(seen, left, abort);
    }
  }

  /**
   * Reads up to `maxEvents` events (whole records) from `from` (the position, or where a batch
   * still being applied ends); `next` is where they end. Records that do not decode are in
   * `undecodable`, and count towards `maxEvents` by their headers' event counts.
   */
  async readBatch(maxEvents: number, from = this.pos): Promise<ReadBatch> {
    const segments = this.written.segments;
    const events: CanonicalEvent[] = [];
    const undecodable: Undecodable[] = [];
    let counted = 0;
    let cursor = from;
    let decodedSinceYield = 0;
    while (counted < maxEvents && cursor < this.written.end) {
      const base = this.segmentFor(cursor);
      const idx = segments.indexOf(base);
      const limit = Math.min(segments[idx + 1] ?? Infinity, this.written.end);
      if (this.handle?.base !== base) {
        await this.handle?.fh.close();
        this.handle = { base, fh: await openSegment(this.dir, base, 'r') };
      }
      let want = Math.min(limit - cursor, READ_CHUNK);
      let buf = Buffer.allocUnsafe(want);
      await this.handle.fh.read(buf, 0, want, cursor - base);
      let off = 0;
      while (off < buf.length && counted < maxEvents) {
        const d = decodeRecord(buf, off);
        if (d.kind === 'partial') {
          if (off > 0) {
            break;
          }
          // A single record larger than the chunk: read exactly that record.
          want = d.need;
          buf = Buffer.allocUnsafe(want);
          await this.handle.fh.read(buf, 0, want, cursor - base);
          continue;
        }
        if (d.kind === 'corrupt') {
          throw new Error(`corrupt record in durable log at position ${cursor + off}`);
        }
        if (decodedSinceYield >= DECODE_SLICE_BYTES) {
          decodedSinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        decodedSinceYield += d.rec.size;
        const decoded = decodeEvents(d.rec.payload, cursor + off);
        if ('events' in decoded) {
          for (const e of decoded.events) {
            events.push(e);
          }
        } else {
          this.logger.error(
            { reason: decoded.undecodable.reason },
            'undecodable record in the event log: dead-lettering it',
          );
          undecodable.push(decoded.undecodable);
        }
        counted += d.rec.count;
        off += d.rec.size;
      }
      cursor += off;
    }
    return { events, undecodable, counted, next: cursor };
  }

  /** After a batch was acknowledged: moves the position past it and deletes consumed segments. */
  async advance(next: number, events: number, release?: () => Promise<void>): Promise<void> {
    this.pos = next;
    this.consumedMark = Math.min(this.consumedMark + events, this.written.eventsWritten);
    await this.deleteConsumedSegments(release);
  }

  /**
   * Deletes the segments the consumer is wholly past now, rather than after its next batch
   * (the log just rolled to free space and may stay idle).
   */
  async trim(): Promise<void> {
    await this.deleteConsumedSegments(this.release);
  }

  /** Closes the segment file being read. */
  async close(): Promise<void> {
    await this.handle?.fh.close().catch(() => undefined);
    this.handle = undefined;
  }

  /** Counts the events from position `from` to the end of the log, on disk. */
  async countEvents(from: number): Promise<number> {
    const segments = this.written.segments;
    let total = 0;
    for (let i = 0; i < segments.length; i++) {
      const base = segments[i]!;
      const next = segments[i + 1] ?? Infinity;
      if (next <= from) {
        continue;
      }
      const fh = await openSegment(this.dir, base, 'r');
      try {
        total += (await scanSegment(fh, Math.max(0, from - base))).events;
      } finally {
        await fh.close();
      }
    }
    return total;
  }

  private segmentFor(pos: number): number {
    const segments = this.written.segments;
    let base = segments[0]!;
    for (const s of segments) {
      if (s <= pos) {
        base = s;
      } else {
        break;
      }
    }
    return base;
  }

  /**
   * Deletes the segments wholly before the position, once `release` resolved (storage holds
   * every acknowledged batch durably: a crash can no longer roll back one the log dropped).
   */
  private async deleteConsumedSegments(release?: () => Promise<void>): Promise<void> {
    const segments = this.written.segments;
    if (segments.length > 1 && segments[1]! <= this.pos) {
      await release?.();
    }
    let removed = false;
    while (segments.length > 1 && segments[1]! <= this.pos) {
      const base = this.written.forgetOldest();
      if (this.handle?.base === base) {
        await this.handle.fh.close();
        this.handle = undefined;
      }
      await unlink(join(this.dir, segmentName(base))).catch(() => undefined);
      removed = true;
    }
    if (removed) {
      await fsyncDir(this.dir);
    }
  }
}
