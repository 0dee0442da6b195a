import { mkdir } from 'node:fs/promises';
import type { CanonicalEvent } from '../../events/event.js';
import { logUnavailable } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { deliver } from '../deliver.js';
import type { Batch, ConsumeOptions, LogStats, Transport, TransportTraits } from '../transport.js';
import { releaseLock, takeLock } from './dir-lock.js';
import { LogReader } from './reader.js';
import { LogWriter } from './writer.js';

/**
 * The embedded log as a Transport: append-only segment files in one directory that one process
 * owns (dir-lock.ts), written with group commit (writer.ts) and read by one consumer
 * (reader.ts), which replays from its committed position after a crash; consumed segments are
 * deleted. This file composes them and guards publishes (closed, broken, backlog).
 */

export interface EmbeddedLogOptions {
  dir: string;
  segmentBytes: number;
  /** Bytes waiting for the next group commit before publishers get 503. */
  maxPendingBytes: number;
  /** Bytes written but not yet consumed before publishers get 503 (bounded disk use). */
  maxUnconsumedBytes: number;
}

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
  const writer = await LogWriter.open(opts, logger);
  return new EmbeddedLog(opts, logger, writer);
}

class EmbeddedLog implements Transport {
  readonly name = 'embedded';
  readonly traits = EMBEDDED_TRAITS;
  private readonly reader: LogReader;
  /** Aborted by stopConsuming: ends the consumer's waits and its redelivery. */
  private readonly stop = new AbortController();
  private consuming: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly opts: EmbeddedLogOptions,
    private readonly logger: Logger,
    private readonly writer: LogWriter,
  ) {
    this.reader = new LogReader(opts.dir, writer, logger);
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
    return this.writer.append(events);
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

  /** One batch at a time, in order: the checkpoint handed out with a batch must move in order. */
  private async run(handler: (batch: Batch) => Promise<void>, opts: ConsumeOptions): Promise<void> {
    const stop = this.stop.signal;
    try {
      await this.reader.startFrom(opts.checkpoint, opts.release);
      while (!stop.aborted) {
        await this.reader.waitForData(stop);
        await this.reader.linger(opts.maxBatchEvents, opts.maxWaitMs ?? 0, stop);
        if (stop.aborted) {
          break;
        }
        const { events, next } = await this.reader.readBatch(opts.maxBatchEvents);
        const batch = { events, checkpoint: { name: CHECKPOINT_NAME, position: String(next) } };
        // Redelivers the same batch until the handler takes it; false once stopped.
        if (!(await deliver(handler, batch, { signal: stop, logger: this.logger }))) {
          break;
        }
        await this.reader.advance(next, events.length, opts.release);
      }
    } finally {
      await this.reader.close();
    }
  }

  async stopConsuming(): Promise<void> {
    this.stop.abort();
    await this.consuming;
  }

  stats(): LogStats {
    return {
      waiting: this.reader.waiting,
      bytes: this.writer.end - this.reader.position,
      state: this.writer.broken || this.closed ? 'down' : 'up',
    };
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    await this.writer.drain();
    this.closed = true;
    await this.stopConsuming();
    await this.writer.close();
    await releaseLock(this.opts.dir);
  }
}
