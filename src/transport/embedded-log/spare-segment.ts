import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import { segmentName } from './segment-files.js';

const SPARE = 'spare.tmp';
const ZERO_CHUNK = 1024 * 1024;

/**
 * The next segment, made ahead of time: zero-filled to its full size and synced, then renamed
 * into place when the log rolls. A durable write that overwrites allocated blocks of a file
 * whose size does not change needs no file-system journal commit, so it does not queue behind
 * the database's writes (measured here with a concurrent fsync-ing writer: p99 0.7 ms instead
 * of 2.1–2.6 ms per write). Zeros read as the end of the log: a zero header is never valid.
 */
export class SpareSegment {
  private ready = false;
  private preparing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly logger: Logger,
  ) {}

  /** Removes a spare left by an earlier process (it may be half filled). */
  static async discard(dir: string): Promise<void> {
    await rm(join(dir, SPARE), { force: true });
  }

  /** Whether a spare is ready to be rolled onto. */
  get isReady(): boolean {
    return this.ready;
  }

  /** Zero-fills the spare segment in the background (one at a time). */
  prepare(): void {
    if (this.preparing || this.ready || this.closed) {
      return;
    }
    this.preparing = (async () => {
      const fh = await open(join(this.dir, SPARE), 'w');
      try {
        const zeros = Buffer.alloc(Math.min(ZERO_CHUNK, this.segmentBytes));
        for (let pos = 0; pos < this.segmentBytes && !this.closed; pos += zeros.length) {
          const n = Math.min(zeros.length, this.segmentBytes - pos);
          await fh.write(zeros, 0, n, pos);
        }
        await fh.datasync();
      } finally {
        await fh.close();
      }
      this.ready = !this.closed;
    })()
      .catch((err: unknown) =>
        // Not fatal: the log rolls to a plain file and appends extend it.
        this.logger.warn({ err }, 'could not prepare the next log segment'),
      )
      .finally(() => {
        this.preparing = undefined;
      });
  }

  /**
   * Renames the spare into place as the segment starting at `base`, if one is ready; resolves
   * whether it did (else the caller creates a plain segment file).
   */
  async takeAs(base: number): Promise<boolean> {
    const ready = this.ready;
    this.ready = false;
    if (ready) {
      await rename(join(this.dir, SPARE), join(this.dir, segmentName(base)));
    }
    return ready;
  }

  /** Stops preparing and removes the spare. */
  async close(): Promise<void> {
    this.closed = true;
    await this.preparing;
    await SpareSegment.discard(this.dir);
  }
}
