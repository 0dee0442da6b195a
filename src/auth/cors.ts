import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { compileOrigins, originAllowed } from './origins.js';
import type { SiteRegistry } from './site-registry.js';

/**
 * CORS for browsers sending events (and reading reports with a key: no cookies are used, so an
 * allowed origin gains nothing a key does not give). A preflight names no site, so an origin is
 * allowed when some registered site lists it, or when unregistered sites are accepted; the
 * event request itself is then checked against its own site's origins. Paths under
 * `overrides` (seed 002's ALLOWED_ORIGINS) use their own list.
 *
 * Written by hand rather than with @fastify/cors: per-request options (a delegator) cost about
 * 9 µs a request there (options spread three times, a new hidden class each; measured with
 * `npm run bench -- --edge-auth`), against the 2 µs the ingest path may spend on origins. Here a
 * request without `Origin` (a server) costs one header lookup, and an allowed one two raw
 * headers.
 */
export function corsPlugin(opts: {
  sites: SiteRegistry;
  maxAgeS: number;
  overrides?: { prefixes: readonly string[]; origins: readonly string[] };
}) {
  const override = opts.overrides && opts.overrides.origins.length > 0 ? opts.overrides : undefined;
  const overrideRules = override && compileOrigins(override.origins);
  const allowed = (url: string, origin: string): boolean => {
    if (overrideRules && override.prefixes.some((p) => url.startsWith(p))) {
      return originAllowed(overrideRules, origin);
    }
    return opts.sites.anyAllows(origin);
  };
  const preflightHeaders = {
    'access-control-allow-methods': 'GET, HEAD, POST',
    'access-control-allow-headers': 'content-type, authorization',
    'access-control-max-age': String(opts.maxAgeS),
  };

  const onRequest = (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    // An empty Origin is no origin.
    const origin = req.headers.origin;
    if (origin) {
      // Raw headers: fastify's reply.header costs about 1.5 µs each; these are merged into the
      // response head by node as it is written.
      reply.raw.setHeader('vary', 'Origin');
      if (allowed(req.url, origin)) {
        reply.raw.setHeader('access-control-allow-origin', origin);
      }
    }
    done();
  };

  const plugin = async (app: FastifyInstance) => {
    app.addHook('onRequest', onRequest);
    app.options('*', { schema: { hide: true } }, async (req, reply) => {
      const origin = req.headers.origin;
      if (!origin || !allowed(req.url, origin)) {
        return reply.code(404).send({
          error: { code: 'NOT_FOUND', message: `no route OPTIONS ${req.url.split('?')[0]}` },
        });
      }
      return reply.code(204).headers(preflightHeaders).send();
    });
  };
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
