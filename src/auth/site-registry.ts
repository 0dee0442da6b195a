import type { Logger } from '../logger.js';
import type { Db } from '../storage/db.js';
import { listSites, type SiteRow } from '../storage/sites.repo.js';
import { compileOrigins, originAllowed, type OriginRules } from './origins.js';

/** A registered site as the edge needs it. */
export interface SiteRules {
  readonly siteId: string;
  readonly origins: OriginRules;
  readonly publicReports: boolean;
  readonly ingestKeyRequired: boolean;
}

/** Where an event came from, as the edge sees it. */
export interface EventSource {
  /** `Origin`, or the origin of `Referer` when there is no `Origin` (pixel GETs). */
  origin?: string | undefined;
}

/** Why the edge refuses a site's events; each is its own reason in the drop ledger. */
export type Refusal = 'origin_refused' | 'unregistered_site' | 'ingest_key_required';

export interface SiteRegistry {
  /** The site's rules, if it is registered. */
  get(siteId: string): SiteRules | undefined;
  /**
   * Whether events for `siteId` from `source` are taken; `ingest_key_required` means: only
   * with an ingest key for the site (a key, when presented, is checked by the caller instead).
   */
  admit(siteId: string, source: EventSource): Refusal | undefined;
  /** Whether some site takes events from `origin` (CORS preflights, which name no site). */
  anyAllows(origin: string): boolean;
  /** Reloads now (after a change made by this process). */
  refresh(): Promise<void>;
  close(): void;
}

export interface RegistryOptions {
  /** What happens to a site id that is not registered: `accept` (open, the default) or `refuse`. */
  unregistered: 'accept' | 'refuse';
  /** How often other processes' changes are picked up. */
  refreshMs?: number;
}

/**
 * The registered sites, in memory for the ingest hot path (a Map lookup and a few Set lookups
 * per request), reloaded every few seconds and at once after a change made here.
 */
export async function createSiteRegistry(
  db: Db,
  logger: Logger,
  opts: RegistryOptions,
): Promise<SiteRegistry> {
  let sites = new Map<string, SiteRules>();
  // Every site's origins in one set of rules, for preflights (one lookup, not one per site).
  let union = compileOrigins([]);
  let none = true;
  const load = async () => {
    const next = new Map<string, SiteRules>();
    const rows = await listSites(db);
    for (const row of rows) {
      next.set(row.site_id, compileSite(row));
    }
    sites = next;
    none = rows.length === 0;
    union = rows.some((r) => r.origins.length === 0)
      ? compileOrigins([])
      : compileOrigins(rows.flatMap((r) => r.origins));
  };
  await load();
  const timer = setInterval(
    () => void load().catch((err: unknown) => logger.warn({ err }, 'could not reload the sites')),
    opts.refreshMs ?? 5000,
  );
  timer.unref();
  return {
    get: (id) => sites.get(id),
    admit(siteId, source) {
      const site = sites.get(siteId);
      if (site === undefined) {
        return opts.unregistered === 'accept' ? undefined : 'unregistered_site';
      }
      if (source.origin === undefined) {
        return site.ingestKeyRequired ? 'ingest_key_required' : undefined;
      }
      return originAllowed(site.origins, source.origin) ? undefined : 'origin_refused';
    },
    anyAllows(origin) {
      if (opts.unregistered === 'accept') {
        return true;
      }
      return !none && originAllowed(union, origin);
    },
    refresh: load,
    close: () => clearInterval(timer),
  };
}

export function compileSite(row: SiteRow): SiteRules {
  return {
    siteId: row.site_id,
    origins: compileOrigins(row.origins),
    publicReports: row.public_reports,
    ingestKeyRequired: row.ingest_key_required,
  };
}
