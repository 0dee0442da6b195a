import { mkdir } from 'node:fs/promises';
import type { CanonicalEvent } from '../../events/event.js';
import { logUnavailable } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { deliver } from '../deliver.js';
import type { Batch, ConsumeOptions, LogStats, Transport, TransportTraits } from '../transport.js';
import { DiskGuard } from './disk-guard.js';
import { releaseLock, takeLock } from './dir-lock.js';
import { LogReader, type ReadBatch } from './reader.js';
import { LogWriter } from './writer.js';

/**
 * The embedded log as a Transport: append-only segment files in one directory that one process
 * owns (dir-lock.ts), written with group commit (writer.ts) and read by one consumer
 * (reader.ts), which replays from its committed position after a crash; consumed segments are
 * deleted. This file composes them and guards publishes (closed, broken, backlog, disk space:
 * disk-guard.ts).
 */

export interface EmbeddedLogOptions {
  dir: string;
  segmentBytes: number;
  /** Bytes waiting for the next group commit before publishers get 503. */
  maxPendingBytes: number;
  /** Bytes written but not yet consumed before publishers get 503 (bounded disk use). */
  maxUnconsumedBytes: number;
  /**
   * Free bytes kept on the log's volume for the database, beyond the log's not yet aggregated
   * bytes: below that, publishers get 503 (see disk-guard.ts). Default 0.
   */
  diskReserveBytes?: number;
}

/** Retry-After of a publish refused for disk space: freeing it takes the aggregator a while. */
const DISK_RETRY_AFTER_S = 5;

const CHECKPOINT_NAME = 'embedded';

/** In this process, its position in the database, its segments kept until released. */
export const EMBEDDED_TRAITS: TransportTraits = {
  checkpointName: CHECKPOINT_NAME,
  holdsUntilReleased: true,
  inProcess: true,
};

/** Opens (or creates) the log in `opts.dir`, taking its lock. */
export async function createEmbeddedLog(
  opts: EmbeddedLogOptions,
  logger: Logger,
): Promise<Transport> {
  await mkdir(opts.dir, { recursive: true });
  await takeLock(opts.dir);
  let log: EmbeddedLog | undefined;
  const guard = await DiskGuard.open(
    {
      dir: opts.dir,
      reserveBytes: opts.diskReserveBytes ?? 0,
      backlog: () => log?.unconsumedBytes ?? 0,
      onCheck: () => log?.afterDiskCheck(),
    },
    logger,
  );
  try {
    const writer = await LogWriter.open(opts, logger, (bytes) => guard.roomFor(bytes));
    log = new EmbeddedLog(opts, logger, writer, guard);
    return log;
  } catch (err) {
    guard.close();
    await releaseLock(opts.dir);
    throw err;
  }
}

class EmbeddedLog implements Transport {
  readonly name = 'embedded';
  readonly traits = EMBEDDED_TRAITS;
  private readonly reader: LogReader;
  /** Aborted by stopConsuming: ends the consumer's waits and its redelivery. */
  private readonly stop = new AbortController();
  private consuming: Promise<void> | undefined;
  private closed = false;
  /** A freeSpace under way (one at a time). */
  private freeing: Promise<void> | undefined;

  constructor(
    private readonly opts: EmbeddedLogOptions,
    private readonly logger: Logger,
    private readonly writer: LogWriter,
    private readonly disk: DiskGuard,
  ) {
    this.reader = new LogReader(opts.dir, writer, logger);
  }

  /** Bytes written and not yet consumed. */
  get unconsumedBytes(): number {
    return this.writer.end - this.reader.position;
  }

  /**
   * After each measure of the free space: below the reserve, the log frees what it holds
   * beyond its records (the spare, zeros made ahead, consumed segments); with room again, it
   * makes its spare.
   */
  afterDiskCheck(): void {
    if (this.closed || this.writer.broken) {
      return;
    }
    if (this.disk.isLow) {
      this.freeing ??= this.freeSpace().finally(() => {
        this.freeing = undefined;
      });
    } else {
      this.writer.prepareSpare();
    }
  }

  private async freeSpace(): Promise<void> {
    try {
      await this.writer.freeSpace();
      await this.reader.trim();
    } catch (err) {
      this.logger.warn({ err }, 'could not free space in the event log');
    }
  }

  publish(events: CanonicalEvent[]): Promise<void> {
    if (this.closed || this.writer.broken) {
      return Promise.reject(
        logUnavailable(
          this.writer.broken ? 'the event log cannot write' : 'the event log is closed',
        ),
      );
    }
    if (this.writer.end - this.reader.position > this.opts.maxUnconsumedBytes) {
      return Promise.reject(
        logUnavailable('the aggregator is behind and the log backlog is full; retry later', 5),
      );
    }
    const rec = LogWriter.encode(events);
    if (!this.disk.admit(rec.length)) {
      return Promise.reject(
        logUnavailable(
          `${this.disk.reason ?? 'the disk is nearly full'}; retry later`,
          DISK_RETRY_AFTER_S,
        ),
      );
    }
    return this.writer.appendRecord(rec, events.length).then(
      () => this.disk.settled(rec.length, true),
      (err: unknown) => {
        this.disk.settled(rec.length, false);
        throw err;
      },
    );
  }

  async consume(handler: (batch: Batch) => Promise<void>, opts: ConsumeOptions): Promise<void> {
    if (this.consuming) {
      throw new Error('the embedded log has one consumer');
    }
    const running = this.run(handler, opts);
    this.consuming = running.then(
      () => undefined,
      () => undefined,
    );
    await running;
  }

  /**
   * One batch at a time, in order: the checkpoint handed out with a batch must move in order.
   * While a batch is with the handler, the next one is read ahead when a full batch waits
   * behind it, and given to `prepare`: the consumer's CPU work on it can then overlap the current
   * batch's transaction. The position still moves only once a batch was acknowledged.
   */
  private async run(handler: (batch: Batch) => Promise<void>, opts: ConsumeOptions): Promise<void> {
    const stop = this.stop.signal;
    const toBatch = (r: ReadBatch): Batch => ({
      events: r.events,
      checkpoint: { name: CHECKPOINT_NAME, position: String(r.next) },
      ...(r.undecodable.length > 0 ? { undecodable: r.undecodable } : {}),
    });
    try {
      await this.reader.startFrom(opts.checkpoint, opts.release);
      let ahead: { read: ReadBatch; batch: Batch } | undefined;
      while (!stop.aborted) {
        let current = ahead;
        ahead = undefined;
        if (current === undefined) {
          await this.reader.waitForData(stop);
          await this.reader.linger(opts.maxBatchEvents, opts.maxWaitMs ?? 0, stop);
          if (stop.aborted) {
            break;
          }
          const read = await this.reader.readBatch(opts.maxBatchEvents);
          current = { read, batch: toBatch(read) };
        }
        // The next full batch is read (and handed to `prepare`) while this one is delivered:
        // the reading and decoding, and then its preparation, run during this one's
        // transaction, not between two of them (the database's thread would wait).
        const reading =
          this.reader.waiting - current.read.counted >= opts.maxBatchEvents
            ? this.readAhead(current.read.next, opts, toBatch)
            : undefined;
        // Redelivers the same batch until the handler takes it; false once stopped.
        const delivered = await deliver(handler, current.batch, {
          signal: stop,
          logger: this.logger,
        });
        ahead = await reading;
        if (!delivered) {
          break;
        }
        await this.reader.advance(current.read.next, current.read.counted, opts.release);
      }
    } finally {
      await this.reader.close();
    }
  }

  /**
   * The batch after `from`, prepared. A read that fails here is left to the next turn of the
   * loop, which reads it again once the batch before it is acknowledged (and fails there).
   */
  private async readAhead(
    from: number,
    opts: ConsumeOptions,
    toBatch: (r: ReadBatch) => Batch,
  ): Promise<{ read: ReadBatch; batch: Batch } | undefined> {
    try {
      const read = await this.reader.readBatch(opts.maxBatchEvents, from);
      const batch = toBatch(read);
      opts.prepare?.(batch);
      return { read, batch };
    } catch (err) {
      this.logger.debug({ err }, 'reading ahead failed; the batch is read again in turn');
      return undefined;
    }
  }

  async stopConsuming(): Promise<void> {
    this.stop.abort();
    await this.consuming;
  }

  stats(): LogStats {
    const down = this.writer.broken || this.closed;
    const refusing = down ? undefined : this.disk.reason;
    return {
      waiting: this.reader.waiting,
      bytes: this.unconsumedBytes,
      state: down ? 'down' : 'up',
      writable: !down && refusing === undefined,
      ...(down
        ? { reason: this.writer.broken ? 'the event log cannot write' : 'the event log is closed' }
        : refusing !== undefined
          ? { reason: refusing }
          : {}),
    };
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    await this.writer.drain();
    this.closed = true;
    this.disk.close();
    await this.freeing;
    await this.stopConsuming();
    await this.writer.close();
    await releaseLock(this.opts.dir);
  }
}
