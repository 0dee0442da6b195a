import { statfs } from 'node:fs/promises';
import type { Logger } from '../../logger.js';

/**
 * The embedded log's disk headroom. The log and the embedded database share DATA_DIR's volume:
 * if publishers could take the last free bytes, the aggregator could not store what the log
 * holds, so it could never consume it and free segments (seen: a 64 MiB volume stuck for good).
 * Appends are refused while the free space is below the reserve plus the log's not yet
 * aggregated bytes (the database is about to store those), and taken again once it is back a
 * quarter of the reserve higher (no flapping at the edge).
 *
 * Cheap: one statfs a second, and one after each MiB appended; between two, the bytes admitted
 * since the last measure (written, or still waiting for their write) are subtracted from it,
 * so a burst cannot run past the reserve unseen.
 */

const CHECK_EVERY_BYTES = 1024 * 1024;
const CHECK_INTERVAL_MS = 1000;
const MiB = 1024 * 1024;

export interface DiskGuardOptions {
  dir: string;
  reserveBytes: number;
  /** Bytes in the log not yet aggregated. */
  backlog: () => number;
  /** Called after each measure (the log gives its spare back or makes one, trims itself). */
  onCheck?: () => void;
}

/** Free bytes on the volume holding `dir`, as an unprivileged writer may use them. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

export class DiskGuard {
  private free = Infinity;
  /** Bytes admitted and not yet written (or failed). */
  private unsettled = 0;
  /** Bytes written since the log opened, and when the last measure started. */
  private written = 0;
  private writtenAtMeasure = 0;
  private low = false;
  private checking: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly opts: DiskGuardOptions,
    private readonly logger: Logger,
  ) {}

  /** Measures once (a volume already below the reserve starts refusing), then every second. */
  static async open(opts: DiskGuardOptions, logger: Logger): Promise<DiskGuard> {
    const guard = new DiskGuard(opts, logger);
    await guard.check();
    guard.timer = setInterval(() => void guard.check(), CHECK_INTERVAL_MS);
    guard.timer.unref();
    return guard;
  }

  /** Free space below which appends are refused. */
  private get refuseAt(): number {
    return this.opts.reserveBytes + this.opts.backlog();
  }

  /** Free space at which refused appends are taken again. */
  private get resumeAt(): number {
    return this.refuseAt + Math.max(this.opts.reserveBytes / 4, 64 * 1024);
  }

  /** The free space now, as far as the log's own appends tell. */
  private get estimate(): number {
    return this.free - this.unsettled - (this.written - this.writtenAtMeasure);
  }

  /** Whether the last measure found the free space below the reserve. */
  get isLow(): boolean {
    return this.low;
  }

  /** Why appends are refused, or undefined while they are taken. */
  get reason(): string | undefined {
    if (!this.low && this.estimate >= this.refuseAt) {
      return undefined;
    }
    return (
      `the disk holding the event log is nearly full: ${mib(Math.max(0, this.estimate))} free, ` +
      `${mib(this.refuseAt)} kept for the database (LOG_DISK_RESERVE_BYTES plus the log not yet aggregated)`
    );
  }

  /** Whether `bytes` more may be appended now; if so, call `settled` once they are written (or failed). */
  admit(bytes: number): boolean {
    if (this.low) {
      return false;
    }
    if (this.estimate - bytes < this.refuseAt) {
      this.recheck();
      return false;
    }
    this.unsettled += bytes;
    return true;
  }

  /** Admitted bytes that were written (`written`), or that failed and take nothing. */
  settled(bytes: number, written: boolean): void {
    this.unsettled -= bytes;
    if (written) {
      this.written += bytes;
      if (this.written - this.writtenAtMeasure >= CHECK_EVERY_BYTES) {
        this.recheck();
      }
    }
  }

  /**
   * Whether `bytes` more (a zero-filled spare segment) fit with room to spare: measured now,
   * since a spare is made once a segment and the database may have grown since.
   */
  async roomFor(bytes: number): Promise<boolean> {
    await this.check();
    return !this.low && this.estimate - bytes >= this.resumeAt;
  }

  /** Measures again, unless a measure is under way (then waits for it). */
  async check(): Promise<void> {
    this.checking ??= this.measure().finally(() => {
      this.checking = undefined;
    });
    await this.checking;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private recheck(): void {
    void this.check();
  }

  private async measure(): Promise<void> {
    // What is written while statfs runs may not be in its answer: it is counted on top.
    const writtenBefore = this.written;
    try {
      this.free = await freeBytes(this.opts.dir);
    } catch (err) {
      // Not a reason to refuse ingest by itself: the next measure tries again.
      this.logger.warn({ err }, 'could not measure the free space of the event log volume');
      return;
    }
    this.writtenAtMeasure = writtenBefore;
    if (!this.low && this.free < this.refuseAt) {
      this.low = true;
      this.logger.error(
        { free: this.free, refuseAt: this.refuseAt, resumeAt: this.resumeAt },
        'event log volume below its disk reserve: refusing ingest until space is freed',
      );
    } else if (this.low && this.free >= this.resumeAt) {
      this.low = false;
      this.logger.warn({ free: this.free }, 'event log volume has room again: taking ingest');
    }
    this.opts.onCheck?.();
  }
}
