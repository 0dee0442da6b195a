import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../events/normalize.js';
import { refererOrigin } from '../auth/origins.js';

/** What ingest needs to know of a request besides its events. */
export function requestContext(req: FastifyRequest): RequestContext {
  const h = req.headers;
  const referer = h.referer;
  return {
    now: Date.now(),
    userAgent: h['user-agent'],
    ip: req.ip,
    // Empty headers are absent ones.
    origin: h.origin || (referer ? refererOrigin(referer) : undefined),
    authorization: h.authorization || undefined,
  };
}
