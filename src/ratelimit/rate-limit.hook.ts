import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { clientIp, ipKey, trustedProxies as parseTrustedProxies } from './client-ip.js';
import type { RateLimitDecision, RateLimiter } from './rate-limiter.js';
import { eventCount, siteIdsOf } from './site-ids.js';

/** A route whose requests are counted per client IP and, once the body is parsed, per site. */
export interface RateLimitedRoute {
  method: string;
  url: string;
  /** Site ids a parsed body carries (each distinct one counts once per request). */
  sites?: (body: unknown) => Iterable<string>;
  /** Events a parsed body carries, for the drop ledger. */
  events?: (body: unknown) => number;
}

export interface RateLimitHookOptions {
  trustedProxies: readonly string[];
  /** Default: `POST /v1/events`. */
  routes?: RateLimitedRoute[];
  /**
   * The drop ledger. Per-site refusals add their events under `rate_limited`. Per-IP refusals
   * happen before the body is read (cheap shedding, and malformed requests count too), so their
   * events are unknown: they add requests under `rate_limited_requests`.
   */
  drops?: { add(reason: string, events: number): void };
}

export const INGEST_ROUTE: RateLimitedRoute = {
  method: 'POST',
  url: '/v1/events',
  sites: siteIdsOf,
  events: eventCount,
};

declare module 'fastify' {
  interface FastifyRequest {
    /** The per-IP decision, kept for the per-site check that sets the RateLimit-* headers. */
    rateLimit: RateLimitDecision | null;
  }
}

/**
 * Fastify plugin adding the rate-limit hooks to the matching routes: the per-IP check in
 * `onRequest`, the per-site check in `preHandler`. Register it before the routes it guards.
 */
export function rateLimitHooks(limiter: RateLimiter, opts: RateLimitHookOptions) {
  const trusted = parseTrustedProxies(opts.trustedProxies);
  const routes = opts.routes ?? [INGEST_ROUTE];

  const refuse = (reply: FastifyReply, d: RateLimitDecision) => {
    setHeaders(reply, d);
    void reply
      .code(429)
      .header('retry-after', String(resetSeconds(d)))
      .send({
        error: {
          code: 'RATE_LIMITED',
          message: `too many requests; retry in ${resetSeconds(d)} s`,
        },
      });
  };

  // Callback-style hooks: the decision is synchronous and an async hook costs more (measured).
  // The RateLimit-* headers are set once, by the last check (each header costs ~1.5 µs).
  const perIp = (last: boolean) => (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const ip = clientIp(req.socket.remoteAddress, req.headers['x-forwarded-for'], trusted);
    const d = limiter.consumeSync(`ip:${ipKey(ip)}`);
    if (!d.allowed) {
      opts.drops?.add('rate_limited_requests', 1);
      refuse(reply, d);
      return;
    }
    if (last) {
      setHeaders(reply, d);
    } else {
      req.rateLimit = d;
    }
    done();
  };

  const perSite =
    (route: RateLimitedRoute) => (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      let tightest = req.rateLimit!;
      for (const site of route.sites!(req.body)) {
        const d = limiter.consumeSync(`site:${site}`);
        if (!d.allowed) {
          opts.drops?.add('rate_limited', route.events?.(req.body) ?? 1);
          refuse(reply, d);
          return;
        }
        if (d.remaining < tightest.remaining) {
          tightest = d;
        }
      }
      setHeaders(reply, tightest);
      done();
    };

  const plugin = async (app: FastifyInstance) => {
    app.decorateRequest('rateLimit', null);
    app.addHook('onRoute', (options: RouteOptions) => {
      const methods = Array.isArray(options.method) ? options.method : [options.method];
      const route = routes.find((r) => r.url === options.url && methods.includes(r.method));
      if (route === undefined) {
        return;
      }
      const onRequest = perIp(route.sites === undefined);
      options.onRequest = [onRequest, ...asArray(options.onRequest)] as RouteOptions['onRequest'];
      if (route.sites) {
        options.preHandler = [
          perSite(route),
          ...asArray(options.preHandler),
        ] as RouteOptions['preHandler'];
      }
    });
  };
  // Like fastify-plugin: the onRoute hook must reach routes registered by sibling plugins.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}

function setHeaders(reply: FastifyReply, d: RateLimitDecision): void {
  void reply
    .header('ratelimit-limit', String(d.limit))
    .header('ratelimit-remaining', String(d.remaining))
    .header('ratelimit-reset', String(resetSeconds(d)));
}

/** Whole seconds until the window resets, at least 1 (IETF RateLimit-Reset, Retry-After). */
function resetSeconds(d: RateLimitDecision): number {
  return Math.max(1, Math.ceil(d.resetMs / 1000));
}

function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
