import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createMemoryLimiter } from './memory-limiter.js';
import type { RateLimiter } from './rate-limiter.js';

/**
 * The one place that picks a limiter: none when RATE_LIMIT_MAX is 0, shared through Redis when
 * REDIS_URL is set, per process otherwise. Never waits for Redis: start-up does not depend on it.
 */
export async function createRateLimiter(
  config: Config['rateLimit'],
  logger: Logger,
  opts: { syncMs?: number; prefix?: string } = {},
): Promise<RateLimiter | undefined> {
  if (config.max === 0) {
    return undefined;
  }
  const { windowMs, max } = config;
  if (config.redisUrl) {
    // The Redis client is loaded only when it is used.
    const { createRedisLimiter } = await import('./redis-limiter.js');
    return createRedisLimiter(
      { url: config.redisUrl, windowMs, max, ...opts },
      logger.child({ component: 'ratelimit' }),
    );
  }
  return createMemoryLimiter({ windowMs, max });
}
