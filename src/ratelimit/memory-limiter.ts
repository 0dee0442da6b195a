import type { RateLimiter } from './rate-limiter.js';
import { WindowCounters } from './window-counters.js';

export interface MemoryLimiterOptions {
  windowMs: number;
  max: number;
  maxKeys?: number;
}

/** Per-process fixed-window limiter (no REDIS_URL): each instance counts on its own. */
export function createMemoryLimiter(opts: MemoryLimiterOptions): RateLimiter {
  const counters = new WindowCounters({
    windowMs: opts.windowMs,
    max: opts.max,
    maxKeys: opts.maxKeys ?? 200_000,
    shared: false,
  });
  const sweeper = setInterval(() => counters.sweep(Date.now()), Math.min(opts.windowMs, 60_000));
  sweeper.unref();
  return {
    consume: (key, points = 1) => Promise.resolve(counters.consume(key, points, Date.now())),
    consumeSync: (key, points = 1) => counters.consume(key, points, Date.now()),
    async close() {
      clearInterval(sweeper);
      counters.clear();
    },
  };
}
