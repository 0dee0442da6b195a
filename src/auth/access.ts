import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { forbidden, tooManyAuthFailures, unauthorized, type AppError } from '../errors.js';
import type { FailureThrottle } from './failure-throttle.js';
import { bearerToken, type Scope } from './keys.js';
import { permits, type KeyStore, type Principal } from './key-store.js';
import type { SiteRegistry } from './site-registry.js';

/**
 * Who may call a route, declared on the route: `config: { access: { scope: 'read', site } }`.
 * `site` reads the route's site id from the request (undefined: a route over several sites, or
 * none, which only a key for every site may read). A route without `access` is open.
 */
export interface Access {
  scope: Exclude<Scope, 'ingest'>;
  site?: (req: FastifyRequest) => string | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** The caller's key, once the access hook accepted it (undefined: no key, or an open route). */
    principal: Principal | undefined;
  }
}

/** Why requests were refused, for the admin's view of the failures. */
export interface AuthFailures {
  missing: number;
  unknown: number;
  revoked: number;
  malformed: number;
  forbidden: number;
}

export interface AuthDeps {
  keys: KeyStore;
  sites: SiteRegistry;
  throttle: FailureThrottle;
  failures: AuthFailures;
}

/**
 * Checks a presented key: throws 429 while the address is throttled, 401 for a missing,
 * malformed, unknown or revoked key (each failure counted against the address), and returns
 * the principal otherwise. Shared by the access hook and ingest's key check.
 */
export async function authenticate(
  deps: AuthDeps,
  /** The client's address (`req.ip`: trusted proxies applied). */
  address: string,
  header: string | undefined,
): Promise<Principal> {
  const now = Date.now();
  const wait = deps.throttle.blockedFor(address, now);
  if (wait > 0) {
    throw tooManyAuthFailures(wait);
  }
  const presented = bearerToken(header);
  const fail = (kind: keyof AuthFailures, err: AppError) => {
    deps.failures[kind]++;
    deps.throttle.fail(address, now);
    return err;
  };
  if (presented.kind === 'none') {
    deps.failures.missing++;
    throw unauthorized('an API key is required: send Authorization: Bearer <key>');
  }
  if (presented.kind === 'malformed') {
    throw fail('malformed', unauthorized('the Authorization header must be: Bearer <key>'));
  }
  const v = await deps.keys.verify(presented.token);
  if (!v.ok) {
    throw fail(
      v.reason,
      unauthorized(
        v.reason === 'revoked' ? 'this API key was revoked' : 'this API key is not valid',
      ),
    );
  }
  return v.principal;
}

/**
 * Fastify plugin adding the key check to every route that declares `access`, as its first
 * `onRequest` hook (before the body is read). Register it before the routes it guards.
 */
export function accessHooks(deps: AuthDeps) {
  const check = (access: Access) => async (req: FastifyRequest) => {
    const site = access.site?.(req);
    const header = req.headers.authorization || undefined;
    if (header === undefined && access.scope === 'read' && site !== undefined) {
      if (deps.sites.get(site)?.publicReports) {
        return; // a public site's reports: anyone may read them
      }
    }
    const principal = await authenticate(deps, req.ip, header);
    if (!permits(principal, access.scope, site)) {
      deps.failures.forbidden++;
      throw forbidden(
        principal.scope !== 'admin' && principal.scope !== access.scope
          ? `this key's scope is ${principal.scope}; this needs ${access.scope}`
          : site === undefined
            ? 'this key is limited to some sites; this needs a key for every site'
            : `this key is not for site ${JSON.stringify(site)}`,
      );
    }
    req.principal = principal;
  };

  const plugin = async (app: FastifyInstance) => {
    app.decorateRequest('principal', undefined);
    app.addHook('onRoute', (options: RouteOptions) => {
      const access = options.config?.access;
      if (access === undefined) {
        return;
      }
      const hooks = options.onRequest === undefined ? [] : [options.onRequest].flat();
      options.onRequest = [check(access), ...hooks] as RouteOptions['onRequest'];
    });
  };
  // Like fastify-plugin: the onRoute hook must reach routes registered by sibling plugins.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}

/** The site id in a route's query string, under `name`. */
export const querySite =
  (name = 'site_id') =>
  (req: FastifyRequest): string | undefined => {
    const v = (req.query as Record<string, unknown> | undefined)?.[name];
    return typeof v === 'string' ? v : undefined;
  };
