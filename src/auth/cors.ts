import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { compileOrigins, originAllowed } from './origins.js';
import type { SiteRegistry } from './site-registry.js';

/**
 * CORS for browsers sending events (and reading reports with a key: no cookies are used, so an
 * allowed origin gains nothing a key does not give). A preflight names no site, so an origin is
 * allowed when some registered site lists it, or when unregistered sites are accepted; the
 * event request itself is then checked against its own site's origins. Paths under
 * `overrides` (seed 002's ALLOWED_ORIGINS) use their own list.
 */
export function corsPlugin(opts: {
  sites: SiteRegistry;
  maxAgeS: number;
  overrides?: { prefixes: readonly string[]; origins: readonly string[] };
}) {
  const override = opts.overrides && opts.overrides.origins.length > 0 ? opts.overrides : undefined;
  const overrideRules = override && compileOrigins(override.origins);
  const base = {
    methods: ['GET', 'HEAD', 'POST'],
    allowedHeaders: ['content-type', 'authorization'],
    maxAge: opts.maxAgeS,
    credentials: false,
    strictPreflight: false,
  };
  const allowed = (req: FastifyRequest, origin: string): boolean => {
    if (overrideRules && override.prefixes.some((p) => req.url.startsWith(p))) {
      return originAllowed(overrideRules, origin);
    }
    return opts.sites.anyAllows(origin);
  };
  const plugin = async (app: FastifyInstance) => {
    await app.register(cors, {
      hook: 'onRequest',
      delegator: (req, cb) => {
        // An empty Origin is no origin (and @fastify/cors refuses '' as a value).
        const origin = req.headers.origin;
        cb(null, {
          ...base,
          origin: origin && allowed(req, origin) ? origin : false,
        });
      },
    });
  };
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
