import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import type { Logger } from '../logger.js';
import type { RateLimiter } from './rate-limiter.js';
import { WindowCounters, type WindowEntry } from './window-counters.js';

/**
 * One call per sync adds each key's local hits and returns everyone's totals; a key gets its
 * expiry in the same atomic step that creates it. Cheaper for Redis than INCRBY + PEXPIRE
 * commands per key (measured), and no key can be left without a TTL.
 * KEYS: window counters; ARGV[1]: TTL ms; ARGV[i + 1]: hits for KEYS[i].
 */
const SYNC_SCRIPT = `
local out = {}
for i = 1, #KEYS do
  local add = tonumber(ARGV[i + 1])
  local total = redis.call('INCRBY', KEYS[i], add)
  if total == add then
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
  end
  out[i] = total
end
return out`;
const SYNC_SHA = createHash('sha1').update(SYNC_SCRIPT).digest('hex');
/** Keys per script call: bounds how long one call holds Redis (~1 ms per 1000 keys). */
const SYNC_CHUNK = 1000;

export interface RedisLimiterOptions {
  url: string;
  windowMs: number;
  max: number;
  /** How often local hits are sent to Redis and everyone's totals read back. */
  syncMs?: number;
  /** Redis key prefix; tests use a unique one. */
  prefix?: string;
  maxKeys?: number;
  /** At most one warning per this many ms while Redis is failing. */
  warnEveryMs?: number;
}

/**
 * Fixed-window limiter shared by every instance through Redis, without a Redis round trip per
 * request: requests are decided locally against the last known global count plus local unsent
 * hits (see WindowCounters), and every `syncMs` one script call (SYNC_SCRIPT) adds the hits of
 * every key that had some and returns each key's global count. One round trip per interval;
 * Redis work scales with keys active per interval, not with requests. Approximate by one
 * interval: an instance may admit the hits it receives for a key within one interval after
 * another instance used up the key (refusals are never wrong: global counts only grow).
 *
 * Fails open: while Redis is unreachable or erroring, requests are decided on this instance's
 * own counts (it still refuses what it alone has seen past the limit), unsent hits stay queued
 * for the current window, a warning is logged at most every `warnEveryMs`, and the client
 * reconnects by itself; shared counting resumes with the next sync.
 */
export function createRedisLimiter(opts: RedisLimiterOptions, logger: Logger): RateLimiter {
  const syncMs = opts.syncMs ?? 50;
  const prefix = opts.prefix ?? 'tally:rl:';
  const warnEveryMs = opts.warnEveryMs ?? 30_000;
  // A window's key outlives the window a little so late syncs from skewed clocks still find it.
  const ttlMs = opts.windowMs + 10_000;
  const counters = new WindowCounters({
    windowMs: opts.windowMs,
    max: opts.max,
    maxKeys: opts.maxKeys ?? 200_000,
    shared: true,
  });

  const client = createClient({
    url: opts.url,
    // Fail fast instead of queueing while disconnected: the hits stay in the local counters.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000),
    },
  });
  const cmd = client.withCommandOptions({ timeout: 1000 });

  let down = false;
  let lastWarn = 0;
  let suppressed = 0;
  const failing = (err: unknown) => {
    down = true;
    const now = Date.now();
    if (now - lastWarn >= warnEveryMs) {
      logger.warn(
        { err, suppressed },
        'rate limiter: Redis unavailable; limiting per instance (fail open)',
      );
      lastWarn = now;
      suppressed = 0;
    } else {
      suppressed++;
    }
  };
  client.on('error', failing);
  client.on('ready', () => {
    if (down) {
      down = false;
      logger.info('rate limiter: Redis is back; shared counting resumed');
    }
  });
  client.connect().catch(failing);

  const sync = async (keys: string[], args: string[]): Promise<number[]> => {
    const options = { keys, arguments: args };
    try {
      return (await cmd.evalSha(SYNC_SHA, options)) as number[];
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        return (await cmd.eval(SYNC_SCRIPT, options)) as number[];
      }
      throw err;
    }
  };

  let flushing: Promise<void> | undefined;
  const flush = async (): Promise<void> => {
    if (!client.isReady) {
      return;
    }
    const window = Math.floor(Date.now() / opts.windowMs);
    const batch: { e: WindowEntry; window: number; n: number }[] = [];
    for (const e of counters.takeDirty()) {
      // Hits of a window that has ended no longer matter to anyone.
      if (e.window === window && e.pending > 0) {
        batch.push({ e, window: e.window, n: e.pending });
        e.inflight += e.pending;
        e.pending = 0;
      }
    }
    const chunks: Promise<void>[] = [];
    let firstErr: unknown;
    for (let i = 0; i < batch.length; i += SYNC_CHUNK) {
      const part = batch.slice(i, i + SYNC_CHUNK);
      const keys = part.map((s) => `${prefix}${s.e.key}:${s.window}`);
      const args = [String(ttlMs), ...part.map((s) => String(s.n))];
      // Issued in one tick, node-redis writes all chunks in one pipeline.
      chunks.push(
        sync(keys, args).then(
          (totals) =>
            part.forEach((s, j) => {
              if (s.e.window === s.window) {
                s.e.inflight -= s.n;
                s.e.global = totals[j] ?? s.e.global;
              }
            }),
          (err: unknown) => {
            firstErr ??= err;
            for (const s of part) {
              if (s.e.window === s.window) {
                // Not counted in Redis (or unknown, on a timeout): keep them for the next sync.
                s.e.inflight -= s.n;
                s.e.pending += s.n;
                counters.requeue(s.e);
              }
            }
          },
        ),
      );
    }
    await Promise.all(chunks);
    if (firstErr !== undefined) {
      failing(firstErr);
    }
  };
  const tick = () => {
    counters.sweep(Date.now());
    if (flushing === undefined) {
      flushing = flush().finally(() => (flushing = undefined));
    }
  };
  const timer = setInterval(tick, syncMs);
  timer.unref();

  return {
    consume: (key, points = 1) => Promise.resolve(counters.consume(key, points, Date.now())),
    consumeSync: (key, points = 1) => counters.consume(key, points, Date.now()),
    async close() {
      clearInterval(timer);
      await flushing;
      await flush().catch(() => undefined);
      client.off('error', failing);
      client.on('error', () => undefined);
      if (client.isReady) {
        await client.close().catch(() => client.destroy());
      } else {
        client.destroy();
      }
      counters.clear();
    },
  };
}
