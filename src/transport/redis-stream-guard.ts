import { randomBytes } from 'node:crypto';
import { ConfigError } from '../config.js';
import type { Logger } from '../logger.js';
import { sleep } from '../retry.js';
import type { LogLosses } from './broker-transport.js';
import type { RedisClient } from './redis-client.js';
import { GUARD_SCRIPT } from './redis-stream-scripts.js';

export interface StreamGuardDeps {
  client: RedisClient;
  stream: string;
  group: string;
  /** Start (and take events) on a Redis without AOF, which forgets them on a restart. */
  allowNoPersistence: boolean;
  losses: LogLosses;
  logger: Logger;
}

const NO_AOF =
  'Redis runs without AOF (appendonly no) and would forget acknowledged events on a restart; ' +
  'turn it on (CONFIG SET appendonly yes) or set REDIS_ALLOW_NO_PERSISTENCE=true to accept that';

/**
 * Finds out whether Redis forgot what it acknowledged: at start, after every reconnect and on
 * every backlog read. The stream has an epoch key (`<stream>:epoch`, a random token) that only a
 * lost or replaced dataset can change, and this process remembers the highest entry id it wrote
 * or read; a missing or changed epoch, or a stream whose last id is below that, is a loss
 * (redis-stream-scripts.ts, GUARD_SCRIPT, decides atomically and recreates the stream and the
 * group). Publishes wait for the check after a reconnect: an XADD first would hide the loss.
 * Also refuses a Redis whose persistence is off, unless allowed.
 */
export class StreamGuard {
  private epoch = '';
  private seenId = '0-0';
  private checked = false;
  /** Bumped on every connection loss: a check that began before it does not count. */
  private generation = 0;
  /** Whether the persistence settings are still to be read on this connection. */
  private persistenceUnread = true;
  private persistenceOff = false;
  private checking: Promise<void> | undefined;
  /** The group's backlog (entries) as last read: what a loss took at least. */
  backlog = 0;
  /** Entries this process's consumer has read and not yet acknowledged or released: not lost. */
  holding = 0;
  /** Whether this process consumes: only a consumer may be elected to report a loss. */
  consuming = false;

  constructor(private readonly d: StreamGuardDeps) {
    const reset = () => {
      this.checked = false;
      this.generation++;
      this.persistenceUnread = true;
    };
    d.client.on('error', reset);
    d.client.on('end', reset);
    d.client.on('reconnecting', reset);
    d.client.on('ready', () => {
      reset();
      void this.recheck();
    });
  }

  /** After a reconnect: publishes wait for this, so a failed check is tried again soon. */
  private async recheck(): Promise<void> {
    for (let i = 0; i < 20 && this.d.client.isReady && !this.checked; i++) {
      try {
        await this.check();
      } catch {
        await sleep(100);
      }
    }
  }

  /** Start-up: when Redis answers, refuses one without persistence (unless allowed). */
  async start(): Promise<void> {
    if (!this.d.client.isReady) {
      return; // checked when it connects; Redis down at start is not fatal
    }
    await this.check().catch(() => undefined);
    if (this.persistenceOff && !this.d.allowNoPersistence) {
      throw new ConfigError(`refusing to start: ${NO_AOF}`);
    }
  }

  writable(): boolean {
    return (
      this.d.client.isReady && this.checked && (this.d.allowNoPersistence || !this.persistenceOff)
    );
  }

  reason(): string | undefined {
    if (!this.d.client.isReady) {
      return 'Redis is unreachable';
    }
    if (!this.checked) {
      return 'Redis is being checked for lost data after a reconnect';
    }
    if (this.persistenceOff && !this.d.allowNoPersistence) {
      return NO_AOF;
    }
    return undefined;
  }

  /** An entry id this process wrote or read: the stream can never go below it without a loss. */
  saw(id: string): void {
    if (compareIds(id, this.seenId) > 0) {
      this.seenId = id;
    }
  }

  /** Runs the check (one at a time); the first on a connection also reads the persistence. */
  check(): Promise<void> {
    this.checking ??= this.run().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async run(): Promise<void> {
    const { client, stream, group, logger } = this.d;
    const generation = this.generation;
    if (this.persistenceUnread) {
      const info = await client.sendCommand<string>(['INFO', 'persistence'], { timeout: 2000 });
      const off = /aof_enabled:0/.test(info);
      if (off && !this.persistenceOff) {
        if (this.d.allowNoPersistence) {
          logger.warn('Redis runs without AOF (allowed by REDIS_ALLOW_NO_PERSISTENCE=true)');
        } else {
          logger.error(NO_AOF);
        }
      }
      this.persistenceOff = off;
      this.persistenceUnread = false;
    }
    const [reason, epoch, lastId, report] = await client.sendCommand<
      [string, string, string, number]
    >(
      [
        'EVAL',
        GUARD_SCRIPT,
        '2',
        stream,
        `${stream}:epoch`,
        this.epoch,
        this.seenId,
        group,
        randomBytes(8).toString('hex'),
        this.consuming ? '1' : '0',
      ],
      { timeout: 2000 },
    );
    this.epoch = epoch;
    if (reason !== '') {
      // From here on the stream is what it now is: the next check compares against that.
      this.seenId = lastId;
      // An estimate: entries the group had not acknowledged (each holds ≥ 1 event), less those
      // this consumer holds (they are still counted when their batch commits).
      const events = Math.max(0, this.backlog - this.holding);
      this.d.losses.record({ reason: `redis: ${reason}`, events }, report === 1);
      this.backlog = 0;
    }
    this.checked = this.generation === generation;
  }
}

export function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : as !== bs ? (as < bs ? -1 : 1) : 0;
}
