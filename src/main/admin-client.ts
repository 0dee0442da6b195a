import { readFile } from 'node:fs/promises';
import { deleteUser, keysAdmin, sitesAdmin, type KeyView, type SiteView } from '../auth/admin.js';
import { AppError } from '../errors.js';
import { linkProblem, signLink, type LinkParams } from '../pixels/links.js';
import { linkSecret } from '../pixels/link-secret.js';
import type { Db } from '../storage/db.js';
import type { UserDataDeleted } from '../storage/user-data.repo.js';

/** What `tally sites|keys|users` do, against the database or a running server's admin API. */
export interface AdminClient {
  listSites(): Promise<SiteView[]>;
  addSite(input: Record<string, unknown>): Promise<SiteView>;
  updateSite(id: string, input: Record<string, unknown>): Promise<SiteView>;
  removeSite(id: string): Promise<void>;
  listKeys(): Promise<KeyView[]>;
  createKey(input: Record<string, unknown>): Promise<KeyView & { key: string }>;
  revokeKey(id: string): Promise<void>;
  deleteUser(userId: string, siteId: string | undefined): Promise<UserDataDeleted>;
  /** A signed click link; `url` on `base` (the database knows no server's address). */
  signLink(input: Record<string, unknown>, base: string): Promise<{ url: string; path: string }>;
}

/** Straight to the database (PostgreSQL, or the embedded one while no server holds it). */
export function dbAdminClient(db: Db, opts: { linkSecret?: string } = {}): AdminClient {
  return {
    listSites: () => sitesAdmin.list(db),
    addSite: (input) => sitesAdmin.add(db, input),
    updateSite: (id, input) => sitesAdmin.update(db, id, input),
    removeSite: (id) => sitesAdmin.remove(db, id),
    listKeys: () => keysAdmin.list(db),
    createKey: (input) => keysAdmin.create(db, input),
    revokeKey: (id) => keysAdmin.revoke(db, id),
    deleteUser: (userId, siteId) => deleteUser(db, userId, siteId),
    async signLink(input, base) {
      const problem = linkProblem(input);
      if (problem !== undefined) {
        throw new AppError('INVALID_PARAMETER', problem, 400);
      }
      const path = signLink(await linkSecret(db, opts.linkSecret), input as LinkParams);
      return { url: new URL(path, base).href, path };
    },
  };
}

/** The admin key for the HTTP client: TALLY_ADMIN_KEY, else the bootstrap file. */
export async function adminKeyFor(file: string, env = process.env): Promise<string | undefined> {
  return env['TALLY_ADMIN_KEY'] ?? (await readFile(file, 'utf8').catch(() => undefined))?.trim();
}

/** Through a running server's admin API (the embedded database is that server's alone). */
/** One admin API call with the key; a refusal becomes the AppError the server described. */
export function adminCall(baseUrl: string, key: string | undefined) {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(new URL(path, baseUrl), {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new AppError(e?.code ?? 'HTTP', e?.message ?? `HTTP ${res.status}`, res.status);
    }
    return json as T;
  };
}

export function httpAdminClient(baseUrl: string, key: string | undefined): AdminClient {
  const call = adminCall(baseUrl, key);
  const id = encodeURIComponent;
  return {
    listSites: async () => (await call<{ sites: SiteView[] }>('GET', '/v1/sites')).sites,
    addSite: (input) => call('POST', '/v1/sites', input),
    updateSite: (s, input) => call('PATCH', `/v1/sites/${id(s)}`, input),
    removeSite: (s) => call('DELETE', `/v1/sites/${id(s)}`),
    listKeys: async () => (await call<{ keys: KeyView[] }>('GET', '/v1/keys')).keys,
    createKey: (input) => call('POST', '/v1/keys', input),
    revokeKey: (k) => call('DELETE', `/v1/keys/${id(k)}`),
    deleteUser: async (u, site) =>
      (
        await call<{ deleted: UserDataDeleted }>(
          'DELETE',
          `/v1/users/${id(u)}${site === undefined ? '' : `?site_id=${id(site)}`}`,
        )
      ).deleted,
    signLink: (input) => call('POST', '/v1/links', input),
  };
}
