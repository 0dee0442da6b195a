/**
 * A broker's backlog, read in the background so that reading the figure costs nothing:
 * `stats()` and the publish guard read the last one and never start I/O. The first read starts
 * at once, each next one `everyMs` after the previous one ended (a slow broker is never asked
 * twice at once). The timer is unref'd: it never keeps a process alive.
 */
export class BacklogGauge {
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private stopped = false;

  constructor(
    private readonly read: () => Promise<number>,
    private readonly everyMs: number,
  ) {}

  /** The last figure read (0 before the first read ended). */
  get waiting(): number {
    return this.last;
  }

  /** Reads now, then every `everyMs`, until `stop()`. Idempotent. */
  start(): void {
    if (this.stopped || this.reading || this.timer) {
      return;
    }
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.reading = true;
    try {
      this.last = await this.read();
    } catch {
      // Whether the broker is up is the broker's to say; keep the last known figure.
    } finally {
      this.reading = false;
      if (!this.stopped) {
        this.timer = setTimeout(() => void this.tick(), this.everyMs).unref();
      }
    }
  }
}
