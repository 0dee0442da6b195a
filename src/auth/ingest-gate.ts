import type { CanonicalEvent } from '../events/event.js';
import type { RequestContext } from '../events/normalize.js';
import type { IngestGate } from '../ingest/ingest.js';
import { forbidden, unauthorized, type AppError, type FieldError } from '../errors.js';
import { authenticate, type AuthDeps } from './access.js';
import { permits, type Principal } from './key-store.js';
import type { Refusal, SiteRegistry } from './site-registry.js';

export type { IngestGate };

const MESSAGES: Record<Refusal, (site: string) => string> = {
  origin_refused: (s) => `this origin may not send events for site ${JSON.stringify(s)}`,
  unregistered_site: (s) => `site ${JSON.stringify(s)} is not registered`,
  ingest_key_required: (s) =>
    `site ${JSON.stringify(s)} takes server-side events only with an ingest key (Authorization: Bearer <key>)`,
};

/**
 * Allowed origins at the edge. An event for a registered site is taken from the site's origins
 * (`Origin`, or `Referer` for pixels); one with neither header is server-side, and needs an
 * ingest key when the site says so. A valid ingest (or admin) key for the site admits its events
 * from anywhere. `keys` is undefined with AUTH=off: no key is asked for or checked.
 */
export function createIngestGate(deps: {
  sites: SiteRegistry;
  auth: AuthDeps | undefined;
  drops: { add(reason: string, events: number): void };
}): IngestGate {
  const { sites } = deps;
  const refuse = (events: readonly CanonicalEvent[], refused: Map<string, Refusal>): AppError => {
    const details: FieldError[] = [];
    let unauth = true;
    for (const [site, reason] of refused) {
      const index = events.findIndex((e) => e.site_id === site);
      details.push({ index, field: 'site_id', message: MESSAGES[reason](site), reason });
      unauth &&= reason === 'ingest_key_required';
    }
    for (const e of events) {
      const reason = e.site_id === undefined ? undefined : refused.get(e.site_id);
      deps.drops.add(reason ?? 'refused_with_batch', 1);
    }
    const message = details.map((d) => d.message).join('; ');
    return unauth ? unauthorized(message) : forbidden(message, details);
  };

  const check = (
    events: readonly CanonicalEvent[],
    ctx: RequestContext,
    key: Principal | undefined,
  ): Map<string, Refusal> | undefined => {
    let refused: Map<string, Refusal> | undefined;
    let last: string | undefined;
    for (const e of events) {
      const site = e.site_id;
      if (site === undefined || site === last || refused?.has(site)) {
        continue;
      }
      last = site;
      if (key !== undefined && permits(key, 'ingest', site)) {
        continue;
      }
      let r = sites.admit(site, ctx);
      if (r === 'ingest_key_required' && deps.auth === undefined) {
        r = undefined; // AUTH=off: no keys
      }
      if (r !== undefined) {
        (refused ??= new Map()).set(site, r);
      }
    }
    return refused;
  };

  return {
    // Decided synchronously in the common case (a Map lookup per distinct site); a refusal
    // counts the request's events in the drop ledger under their reasons first.
    admit(events, ctx) {
      if (ctx.authorization === undefined || deps.auth === undefined) {
        const refused = check(events, ctx, undefined);
        return refused && Promise.reject(refuse(events, refused));
      }
      const auth = deps.auth;
      return (async () => {
        let key: Principal;
        try {
          key = await authenticate(auth, ctx.ip ?? '', ctx.authorization);
        } catch (err) {
          deps.drops.add('ingest_key_invalid', events.length);
          throw err;
        }
        const refused = check(events, ctx, key);
        if (refused) {
          throw refuse(events, refused);
        }
      })();
    },
  };
}
