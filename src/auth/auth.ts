import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Db } from '../storage/db.js';
import type { AuthDeps } from './access.js';
import { bootstrapAdminKey } from './bootstrap.js';
import { FailureThrottle } from './failure-throttle.js';
import { createIngestGate, type IngestGate } from './ingest-gate.js';
import { createKeyStore } from './key-store.js';
import { createSiteRegistry, type SiteRegistry } from './site-registry.js';

export interface Auth {
  sites: SiteRegistry;
  /** Undefined with AUTH=off: no key is asked for or checked. */
  keys: AuthDeps | undefined;
  gate: IngestGate;
  close(): Promise<void>;
}

/** The site registry, the key store and the ingest gate, as one part of the edge. */
export async function openAuth(
  config: Config,
  db: Db,
  logger: Logger,
  drops: { add(reason: string, events: number): void },
): Promise<Auth> {
  const child = logger.child({ component: 'auth' });
  const sites = await createSiteRegistry(db, child, {
    unregistered: config.auth.unregisteredSites,
  });
  let keys: AuthDeps | undefined;
  if (config.auth.enabled) {
    await bootstrapAdminKey(
      db,
      { adminKey: config.auth.adminKey, file: config.auth.adminKeyFile },
      child,
    );
    keys = {
      keys: createKeyStore(db, child),
      sites,
      throttle: new FailureThrottle(config.auth.maxFailuresPerMinute),
      failures: { missing: 0, unknown: 0, revoked: 0, malformed: 0, forbidden: 0 },
    };
  } else {
    child.warn('AUTH=off: reports and admin routes are open to anyone who can reach this port');
  }
  return {
    sites,
    keys,
    gate: createIngestGate({ sites, auth: keys, drops }),
    async close() {
      sites.close();
      await keys?.keys.close();
    },
  };
}
