import type { Queryable } from '../storage/db.js';
import { ensureSetting } from '../storage/settings.repo.js';
import { newLinkSecret } from './links.js';

/**
 * The secret that signs click links: LINK_SECRET when set, else the install's own, made by the
 * first process that needs it and kept in the database, so every API process of the install
 * signs and checks alike and a link stays valid across restarts.
 */
export async function linkSecret(db: Queryable, configured: string | undefined): Promise<string> {
  return configured ?? ensureSetting(db, 'link_secret', newLinkSecret());
}
