import type { FastifyReply, FastifyRequest } from 'fastify';
import { clientIp, ipKey, trustedProxies } from '../ratelimit/client-ip.js';
import type { RateLimiter } from '../ratelimit/rate-limiter.js';
import { SeedError } from './seed-errors.js';

/** express-rate-limit's message, which seed 000 answered with; each seed renders it in its shape. */
export const TOO_MANY = 'Too many requests, please try again later.';

export interface SeedRateLimit {
  limiter: RateLimiter;
  trustedProxies: readonly string[];
  /** The drop ledger: refused requests are counted, never dropped silently. */
  drops?: { add(reason: string, events: number): void } | undefined;
}

export type OnRequest = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * The per-client-IP limit (RATE_LIMIT_WINDOW_MS, RATE_LIMIT_MAX) of the compat ingest routes,
 * checked before the body is read. It counts against the same key as `POST /v1/events`, so a
 * client has one budget whichever API it uses. Sets RateLimit-Limit/-Remaining/-Reset on every
 * answer; refusals are 429 with Retry-After, in the seed's error shape.
 */
export function seedRateLimit(opts: SeedRateLimit): OnRequest {
  const trusted = trustedProxies(opts.trustedProxies);
  return async (req, reply) => {
    const ip = clientIp(req.socket.remoteAddress, req.headers['x-forwarded-for'], trusted);
    const d = await opts.limiter.consume(`ip:${ipKey(ip)}`);
    const resetS = Math.max(1, Math.ceil(d.resetMs / 1000));
    void reply
      .header('ratelimit-limit', String(d.limit))
      .header('ratelimit-remaining', String(Math.max(0, d.remaining)))
      .header('ratelimit-reset', String(resetS));
    if (!d.allowed) {
      opts.drops?.add('rate_limited_requests', 1);
      void reply.header('retry-after', String(resetS));
      throw new SeedError(429, TOO_MANY);
    }
  };
}

/** Route options adding the limit when there is one. */
export const limited = (onRequest: OnRequest | undefined) => (onRequest ? { onRequest } : {});
