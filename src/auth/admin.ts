import { invalidParameter, conflict, notFound, type FieldError, AppError } from '../errors.js';
import { LIMITS } from '../events/event.js';
import type { Db, Queryable } from '../storage/db.js';
import { insertKey, listKeys, revokeKey, type ApiKeyRow } from '../storage/api-keys.repo.js';
import {
  deleteSite,
  getSite,
  insertSite,
  listSites,
  updateSite,
  type SiteRow,
  type SiteSettings,
} from '../storage/sites.repo.js';
import { deleteUserData } from '../storage/user-data.repo.js';
import { generateKey, SCOPES, type Scope } from './keys.js';
import { originEntryError } from './origins.js';

/**
 * The registry's and the keys' rules, shared by the admin API and the CLI: validation with the
 * field and the reason, then the repository. Both callers render the same results.
 */

export interface SiteView {
  site_id: string;
  name: string;
  origins: string[];
  public_reports: boolean;
  ingest_key_required: boolean;
  created_at: string;
  updated_at: string;
}

export interface KeyView {
  id: string;
  scope: Scope;
  sites: string[];
  name: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const MAX_ORIGINS = 100;
const MAX_NAME = 200;
const MAX_KEY_SITES = 1000;

export const siteView = (r: SiteRow): SiteView => ({
  site_id: r.site_id,
  name: r.name,
  origins: r.origins,
  public_reports: r.public_reports,
  ingest_key_required: r.ingest_key_required,
  created_at: new Date(r.created_at).toISOString(),
  updated_at: new Date(r.updated_at).toISOString(),
});

export const keyView = (r: ApiKeyRow): KeyView => ({
  id: r.id,
  scope: r.scope,
  sites: r.sites,
  name: r.name,
  created_at: new Date(r.created_at).toISOString(),
  last_used_at: r.last_used_at && new Date(r.last_used_at).toISOString(),
  revoked_at: r.revoked_at && new Date(r.revoked_at).toISOString(),
});

function invalid(details: FieldError[]): AppError {
  return new AppError(
    'INVALID_PARAMETER',
    details.map((d) => `${d.field}: ${d.message}`).join('; '),
    400,
    details,
  );
}

export function checkSiteId(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > LIMITS.id) {
    throw invalidParameter(field, `must be a string of 1 to ${LIMITS.id} characters`);
  }
  return v;
}

/** The settings present in `input`, validated; every bad field is reported. */
export function siteSettings(input: Record<string, unknown>): Partial<SiteSettings> {
  const out: Partial<SiteSettings> = {};
  const errors: FieldError[] = [];
  if (input['name'] !== undefined) {
    const n = input['name'];
    if (typeof n !== 'string' || n.length > MAX_NAME) {
      errors.push({ field: 'name', message: `must be a string of at most ${MAX_NAME} characters` });
    } else {
      out.name = n;
    }
  }
  if (input['origins'] !== undefined) {
    const o = input['origins'];
    if (!Array.isArray(o) || o.length > MAX_ORIGINS) {
      errors.push({
        field: 'origins',
        message: `must be a list of at most ${MAX_ORIGINS} origins`,
      });
    } else {
      o.forEach((entry: unknown, i) => {
        const why = typeof entry === 'string' ? originEntryError(entry) : 'must be a string';
        if (why !== undefined) {
          errors.push({ field: `origins[${i}]`, message: why });
        }
      });
      out.origins = [...new Set(o.map((e) => String(e).trim().toLowerCase()))];
    }
  }
  for (const flag of ['public_reports', 'ingest_key_required'] as const) {
    const v = input[flag];
    if (v !== undefined) {
      if (typeof v !== 'boolean') {
        errors.push({ field: flag, message: 'must be true or false' });
      } else {
        out[flag] = v;
      }
    }
  }
  if (errors.length > 0) {
    throw invalid(errors);
  }
  return out;
}

export const sitesAdmin = {
  list: async (db: Queryable) => (await listSites(db)).map(siteView),
  async get(db: Queryable, siteId: string) {
    const row = await getSite(db, siteId);
    if (!row) {
      throw notFound(`no site ${JSON.stringify(siteId)}`);
    }
    return siteView(row);
  },
  async add(db: Queryable, input: Record<string, unknown>) {
    const siteId = checkSiteId('site_id', input['site_id']);
    const s = siteSettings(input);
    const row = await insertSite(db, siteId, {
      name: s.name ?? '',
      origins: s.origins ?? [],
      public_reports: s.public_reports ?? false,
      ingest_key_required: s.ingest_key_required ?? false,
    });
    if (!row) {
      throw conflict(`site ${JSON.stringify(siteId)} is registered already`);
    }
    return siteView(row);
  },
  async update(db: Queryable, siteId: string, input: Record<string, unknown>) {
    const row = await updateSite(db, siteId, siteSettings(input));
    if (!row) {
      throw notFound(`no site ${JSON.stringify(siteId)}`);
    }
    return siteView(row);
  },
  async remove(db: Queryable, siteId: string) {
    if (!(await deleteSite(db, siteId))) {
      throw notFound(`no site ${JSON.stringify(siteId)}`);
    }
  },
};

export const keysAdmin = {
  list: async (db: Queryable) => (await listKeys(db)).map(keyView),
  /** Makes a key; the whole key is in the result and nowhere else, ever. */
  async create(db: Queryable, input: Record<string, unknown>) {
    const errors: FieldError[] = [];
    const scope = input['scope'];
    if (typeof scope !== 'string' || !(SCOPES as readonly string[]).includes(scope)) {
      errors.push({ field: 'scope', message: `must be one of: ${SCOPES.join(', ')}` });
    }
    const sites = input['sites'] ?? [];
    if (!Array.isArray(sites) || sites.length > MAX_KEY_SITES) {
      errors.push({
        field: 'sites',
        message: `must be a list of at most ${MAX_KEY_SITES} site ids`,
      });
    } else {
      sites.forEach((s: unknown, i) => {
        if (typeof s !== 'string' || s.length === 0 || s.length > LIMITS.id) {
          errors.push({
            field: `sites[${i}]`,
            message: `must be a site id of 1 to ${LIMITS.id} characters`,
          });
        }
      });
    }
    const name = input['name'] ?? '';
    if (typeof name !== 'string' || name.length > MAX_NAME) {
      errors.push({ field: 'name', message: `must be a string of at most ${MAX_NAME} characters` });
    }
    if (errors.length > 0) {
      throw invalid(errors);
    }
    const k = generateKey();
    const row = await insertKey(db, {
      id: k.id,
      secret_hash: k.secretHash,
      scope: scope as Scope,
      sites: [...new Set(sites as string[])],
      name: name as string,
    });
    return { ...keyView(row), key: k.token };
  },
  async revoke(db: Queryable, id: string) {
    if (!(await revokeKey(db, id))) {
      throw notFound(`no active key ${JSON.stringify(id)}`);
    }
  },
};

/** GDPR erasure: the user's unique-user rows and dead letters; the anonymous counters stay. */
export async function deleteUser(db: Db, userId: unknown, siteId: unknown) {
  const user = typeof userId === 'string' && userId.length > 0 && userId.length <= LIMITS.user;
  if (!user) {
    throw invalidParameter('user_id', `must be a string of 1 to ${LIMITS.user} characters`);
  }
  const site = siteId === undefined ? undefined : checkSiteId('site_id', siteId);
  return deleteUserData(db, userId, site);
}
