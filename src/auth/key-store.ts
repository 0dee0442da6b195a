import type { Logger } from '../logger.js';
import type { Db } from '../storage/db.js';
import { findKey, touchKeys, type ApiKeyRow } from '../storage/api-keys.repo.js';
import { keyId, tokenMatches, type Scope } from './keys.js';

/** Who a valid key says the caller is. */
export interface Principal {
  keyId: string;
  scope: Scope;
  /** The sites the key is good for; empty: every site. */
  sites: readonly string[];
}

export type Verdict =
  { ok: true; principal: Principal } | { ok: false; reason: 'unknown' | 'revoked' };

/** How long a key row is trusted from memory: a revocation elsewhere takes effect within it. */
const CACHE_MS = 5000;
const TOUCH_EVERY_MS = 10_000;

export interface KeyStore {
  verify(token: string): Promise<Verdict>;
  /** Forgets a key at once (revoked here). */
  forget(id: string): void;
  close(): Promise<void>;
}

/**
 * Checks presented keys against the database, keeping rows for a few seconds so that a busy
 * client does not cost a query per request. The comparison is constant-time on the hash; the
 * key itself is kept nowhere, and nothing here logs it. Last-used times are written in batches.
 */
export function createKeyStore(db: Db, logger: Logger): KeyStore {
  const cache = new Map<string, { row: ApiKeyRow | undefined; at: number }>();
  const used = new Map<string, number>();
  const flush = async () => {
    if (used.size === 0) {
      return;
    }
    const batch = new Map(used);
    used.clear();
    await touchKeys(db, batch).catch((err: unknown) =>
      logger.warn({ err }, 'could not record when keys were last used'),
    );
  };
  const timer = setInterval(() => void flush(), TOUCH_EVERY_MS);
  timer.unref();
  return {
    async verify(token) {
      const id = keyId(token);
      if (id === undefined) {
        return { ok: false, reason: 'unknown' };
      }
      const now = Date.now();
      let hit = cache.get(id);
      if (hit === undefined || now - hit.at > CACHE_MS) {
        hit = { row: await findKey(db, id), at: now };
        if (cache.size > 10_000) {
          cache.clear();
        }
        cache.set(id, hit);
      }
      const row = hit.row;
      if (row === undefined || !tokenMatches(token, row.secret_hash)) {
        return { ok: false, reason: 'unknown' };
      }
      if (row.revoked_at !== null) {
        return { ok: false, reason: 'revoked' };
      }
      used.set(id, now);
      return { ok: true, principal: { keyId: id, scope: row.scope, sites: row.sites } };
    },
    forget: (id) => cache.delete(id),
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

/** Whether the principal may act with `scope` on `siteId` (undefined: a route of no one site). */
export function permits(p: Principal, scope: Scope, siteId: string | undefined): boolean {
  if (p.scope !== 'admin' && p.scope !== scope) {
    return false;
  }
  if (p.sites.length === 0) {
    return true;
  }
  return siteId !== undefined && p.sites.includes(siteId);
}
