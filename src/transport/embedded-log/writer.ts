import { constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { CanonicalEvent } from '../../events/event.js';
import { logUnavailable } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { GroupCommit } from '../group-commit.js';
import {
  encodeRecord,
  fsyncDir,
  listSegments,
  openSegment,
  scanSegment,
  segmentName,
  zerosFrom,
} from './segment-files.js';
import { Signal } from './signal.js';
import { SpareSegment } from './spare-segment.js';

/**
 * The writing half of the embedded log: appends records to the active segment durably with
 * group commit (every publish that arrives while a write is in progress joins the next one, so
 * many requests share one durable write), rolls onto a new segment (the zero-filled spare when
 * one is ready) and, on open, cuts a torn write off the tail.
 */

/**
 * On Linux the segment being appended to is opened with O_DSYNC: a write returns once its data
 * is on disk, so a group commit costs one system call (and one trip through libuv's thread
 * pool) instead of a write and an fdatasync. Elsewhere, fdatasync (on macOS libuv makes it an
 * F_FULLFSYNC, which O_DSYNC would not be).
 */
const DSYNC = process.platform === 'linux' ? (fsConstants.O_DSYNC ?? 0) : 0;
/** libuv splits a writev of more buffers than this (IOV_MAX); with O_DSYNC each part would sync. */
const MAX_IOV = 1024;
const APPEND_FLAGS = fsConstants.O_RDWR | DSYNC;

export interface WriterOptions {
  dir: string;
  segmentBytes: number;
  /** Bytes waiting for the next group commit before publishers get 503. */
  maxPendingBytes: number;
}

/** What the reader needs of the writer: where the durable log is and ends. */
export interface WrittenLog {
  /** Base positions of the segments on disk, oldest first; the last one is appended to. */
  readonly segments: readonly number[];
  /** Everything before `end` is durable. */
  readonly end: number;
  /** Events made durable since the log was opened. */
  readonly eventsWritten: number;
  /** Notified after each durable write. */
  readonly arrived: Signal;
  /** Forgets the oldest segment (never the one appended to) and returns its base. */
  forgetOldest(): number;
}

interface PendingRecord {
  rec: Buffer;
  events: number;
  /** Not a record: asks to free space after this write (freeSpace). */
  free?: true;
}

export class LogWriter implements WrittenLog {
  readonly arrived = new Signal();
  private readonly commits: GroupCommit<PendingRecord>;
  private durableEnd: number;
  private eventCount = 0;
  private failure: Error | undefined;
  private rolling: Promise<void> | undefined;

  /**
   * Opens the log in `opts.dir` (creating its first segment) for appending at its durable end.
   * `hasRoom` says whether a zero-filled spare segment of this many bytes may be made.
   */
  static async open(
    opts: WriterOptions,
    logger: Logger,
    hasRoom: (bytes: number) => Promise<boolean>,
  ): Promise<LogWriter> {
    const segments = await listSegments(opts.dir);
    if (segments.length === 0) {
      segments.push(0);
      await (await openSegment(opts.dir, 0, 'a')).close();
      await fsyncDir(opts.dir);
    }
    await SpareSegment.discard(opts.dir);
    const activeBase = segments[segments.length - 1]!;
    const active = await openSegment(opts.dir, activeBase, APPEND_FLAGS);
    const { validBytes } = await scanSegment(active);
    const { size } = await active.stat();
    let preallocated = false;
    if (size > validBytes) {
      if (await zerosFrom(active, validBytes, size)) {
        preallocated = true; // the rest of a preallocated segment, not a torn write
      } else {
        // A crash mid-append left a record that never finished: appends go on from the
        // durable end, so the torn bytes are cut off (they were never acknowledged).
        logger.warn(
          { segment: segmentName(activeBase), dropped: size - validBytes },
          'truncating a torn write at the log tail',
        );
        await active.truncate(validBytes);
        await active.datasync();
      }
    }
    const spare = new SpareSegment(opts.dir, opts.segmentBytes, logger, hasRoom);
    return new LogWriter(
      opts,
      logger,
      segments,
      active,
      activeBase + validBytes,
      preallocated,
      spare,
    );
  }

  private constructor(
    private readonly opts: WriterOptions,
    private readonly logger: Logger,
    private readonly bases: number[],
    private active: FileHandle,
    end: number,
    /** Whether the segment being appended to was zero-filled ahead (writes overwrite, not extend). */
    private activePreallocated: boolean,
    private readonly spare: SpareSegment,
  ) {
    this.durableEnd = end;
    // The first write starts at once: a lone publish does not wait for the turn to end, and
    // those that arrive while it is on disk join the next write.
    this.commits = new GroupCommit((group) => this.write(group), opts.maxPendingBytes, {
      joinTurn: false,
    });
    this.spare.prepare();
  }

  get segments(): readonly number[] {
    return this.bases;
  }

  get end(): number {
    return this.durableEnd;
  }

  get eventsWritten(): number {
    return this.eventCount;
  }

  /** Whether a failed write could not be undone: the log refuses every further write. */
  get broken(): boolean {
    return this.failure !== undefined;
  }

  forgetOldest(): number {
    if (this.bases.length < 2) {
      throw new Error('the segment being appended to cannot be forgotten');
    }
    return this.bases.shift()!;
  }

  /**
   * Resolves once the events are durable. Rejects with logUnavailable (503) when more than
   * maxPendingBytes wait for the next write, or when the write failed.
   */
  append(events: CanonicalEvent[]): Promise<void> {
    return this.appendRecord(LogWriter.encode(events), events.length);
  }

  /** The record `append` writes for these events (its length is what the log grows by). */
  static encode(events: CanonicalEvent[]): Buffer {
    return encodeRecord(Buffer.from(JSON.stringify(events)), events.length);
  }

  /** Appends a record made by `encode` holding `events` events (see append). */
  appendRecord(rec: Buffer, events: number): Promise<void> {
    return this.commits.add({ rec, events }, rec.length);
  }

  /** Makes the zero-filled spare segment in the background, if there is room for it. */
  prepareSpare(): void {
    this.spare.prepare();
  }

  /** Removes the spare segment (or stops making it): the disk runs low. */
  giveBackSpare(): Promise<void> {
    return this.spare.giveBack();
  }

  /**
   * Frees what the log holds beyond its records, the disk running low: gives the spare back,
   * cuts the zeros made ahead off the segment appended to, and rolls onto a new plain segment
   * so that this one can be deleted once consumed (the segment appended to never is). Through
   * the group commit, after the writes queued so far, so that no write is in progress meanwhile.
   */
  async freeSpace(): Promise<void> {
    await this.spare.giveBack();
    await this.commits.add({ rec: Buffer.alloc(0), events: 0, free: true }, 0);
    while (this.rolling) {
      await this.rolling;
    }
  }

  /** Resolves once everything appended so far is written (or failed) and any roll finished. */
  async drain(): Promise<void> {
    await this.commits.drain();
    while (this.rolling) {
      await this.rolling;
      await this.commits.drain();
    }
  }

  /** Stops preparing the spare and closes the active segment; call after `drain`. */
  async close(): Promise<void> {
    await this.spare.close();
    await this.active.close();
  }

  private get activeBase(): number {
    return this.bases[this.bases.length - 1]!;
  }

  /** One group commit: called by GroupCommit, one at a time, in publish order. */
  private async write(group: PendingRecord[]): Promise<void> {
    if (this.rolling) {
      await this.rolling;
    }
    if (this.failure) {
      throw logUnavailable('the event log cannot write');
    }
    const bufs = group.map((p) => p.rec);
    const bytes = bufs.reduce((n, b) => n + b.length, 0);
    const at = this.durableEnd - this.activeBase;
    const freeAsked = group.some((p) => p.free);
    try {
      let written = 0;
      while (written < bytes) {
        const { bytesWritten } = await this.active.writev(
          written === 0 && bufs.length <= MAX_IOV ? bufs : [Buffer.concat(bufs).subarray(written)],
          at + written,
        );
        written += bytesWritten;
      }
      if (DSYNC === 0) {
        await this.active.datasync();
      }
    } catch (err) {
      this.logger.error({ err }, 'event log write failed');
      // What reached the file is unknown: cut it back to the last durable end.
      await this.active.truncate(at).catch((e: unknown) => {
        this.failure = e instanceof Error ? e : new Error(String(e));
      });
      throw logUnavailable('the event log could not write; retry');
    }
    this.durableEnd += bytes;
    this.eventCount += group.reduce((n, p) => n + p.events, 0);
    this.arrived.notify();
    // After this group's publishers are answered, before the next group is written. Also roll
    // early onto a ready spare when appending to a plain file (a new log, a small disk).
    if (freeAsked) {
      this.whileRolling(this.cutZerosAndRoll());
    } else if (
      this.durableEnd - this.activeBase >= this.opts.segmentBytes ||
      (!this.activePreallocated && this.spare.isReady)
    ) {
      this.whileRolling(this.roll(true));
    }
  }

  /** The next write waits for `work` (a roll): it changes the segment appended to. */
  private whileRolling(work: Promise<void>): void {
    this.rolling = work.finally(() => {
      this.rolling = undefined;
    });
  }

  private async cutZerosAndRoll(): Promise<void> {
    if (this.activePreallocated) {
      try {
        await this.active.truncate(this.durableEnd - this.activeBase);
        this.activePreallocated = false;
      } catch (err) {
        this.logger.warn({ err }, 'could not cut the zero-filled rest of the log segment');
      }
    }
    if (this.durableEnd > this.activeBase) {
      await this.roll(false);
    }
  }

  /** Rolls onto the spare when `useSpare` and one is ready, else onto a new plain file. */
  private async roll(useSpare: boolean): Promise<void> {
    try {
      const base = this.durableEnd;
      const preallocated = useSpare && (await this.spare.takeAs(base));
      const next = await openSegment(
        this.opts.dir,
        base,
        preallocated ? APPEND_FLAGS : APPEND_FLAGS | fsConstants.O_CREAT | fsConstants.O_TRUNC,
      );
      try {
        await fsyncDir(this.opts.dir);
      } catch (err) {
        await next.close().catch(() => undefined);
        throw err;
      }
      const prev = this.active;
      this.bases.push(base);
      this.active = next;
      this.activePreallocated = preallocated;
      this.spare.prepare();
      await prev.close();
    } catch (err) {
      // A half-made segment file may be on disk: appending on would put records where a reopen
      // would not look for them. Refuse writes; a restart opens the log consistently.
      this.logger.error({ err }, 'could not roll the event log onto a new segment');
      this.failure ??= err instanceof Error ? err : new Error(String(err));
    }
  }
}
