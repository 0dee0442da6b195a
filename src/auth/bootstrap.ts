import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';
import type { Db } from '../storage/db.js';
import {
  claimBootstrap,
  findKey,
  insertKey,
  revokeOtherProvisionedKeys,
} from '../storage/api-keys.repo.js';
import { generateKey, hashToken, keyId } from './keys.js';

/**
 * The first admin key, so that a fresh install is closed to strangers and still usable by the
 * person at the keyboard. With ADMIN_KEY set, that key is registered (hashed) and nothing is
 * written. Otherwise the first process to start on a database makes one key and writes it to
 * `file`, readable by its owner only, and says where; every later start does nothing, even
 * after that key is revoked (make another with `tally keys create --scope admin`).
 */
export async function bootstrapAdminKey(
  db: Db,
  opts: { adminKey: string | undefined; file: string },
  logger: Logger,
): Promise<void> {
  if (opts.adminKey !== undefined) {
    const id = keyId(opts.adminKey)!;
    const existing = await findKey(db, id);
    if (existing === undefined) {
      await db.transaction(async (tx) => {
        await insertKey(tx, {
          id,
          secret_hash: hashToken(opts.adminKey!),
          scope: 'admin',
          sites: [],
          name: 'ADMIN_KEY',
        });
        await claimBootstrap(tx, id);
      });
      logger.info({ keyId: id }, 'registered ADMIN_KEY as an admin key');
    }
    // A changed ADMIN_KEY replaces the one before: the old value stops working.
    const retired = await revokeOtherProvisionedKeys(db, id);
    if (retired.length > 0) {
      logger.info({ keyIds: retired }, 'revoked the previous ADMIN_KEY');
    }
    return;
  }
  const k = generateKey();
  const tmp = `${opts.file}.${process.pid}.tmp`;
  await mkdir(dirname(opts.file), { recursive: true });
  // Written before the row exists, owner-only from its creation: never a moment when the key
  // works and is readable by others, or works and is nowhere.
  await writeFile(tmp, `${k.token}\n`, { mode: 0o600, flag: 'w' });
  await chmod(tmp, 0o600);
  let created = false;
  try {
    created = await db.transaction(async (tx) => {
      if (!(await claimBootstrap(tx, k.id))) {
        return false;
      }
      await insertKey(tx, {
        id: k.id,
        secret_hash: k.secretHash,
        scope: 'admin',
        sites: [],
        name: 'first admin key',
      });
      return true;
    });
  } finally {
    if (created) {
      await rename(tmp, opts.file);
    } else {
      await rm(tmp, { force: true });
    }
  }
  if (created) {
    logger.warn(
      { file: opts.file, keyId: k.id },
      `created the first admin key; it is in ${opts.file} (readable by this user only). Send it as Authorization: Bearer <key>`,
    );
  }
}
