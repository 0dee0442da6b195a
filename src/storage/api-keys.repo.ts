import type { Queryable } from './db.js';

/** An API key's row; the secret itself is never stored. */
export interface ApiKeyRow {
  id: string;
  secret_hash: Buffer;
  scope: 'read' | 'ingest' | 'admin';
  sites: string[];
  name: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, secret_hash, scope, sites, name, created_at, last_used_at, revoked_at';

export async function insertKey(
  db: Queryable,
  k: Pick<ApiKeyRow, 'id' | 'secret_hash' | 'scope' | 'sites' | 'name'>,
): Promise<ApiKeyRow> {
  const r = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, secret_hash, scope, sites, name) VALUES ($1, $2, $3, $4::text[], $5)
     RETURNING ${COLUMNS}`,
    [k.id, k.secret_hash, k.scope, k.sites, k.name],
  );
  return r.rows[0]!;
}

export async function findKey(db: Queryable, id: string): Promise<ApiKeyRow | undefined> {
  const r = await db.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
  return r.rows[0] && withBuffer(r.rows[0]);
}

export async function listKeys(db: Queryable): Promise<ApiKeyRow[]> {
  const r = await db.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`);
  return r.rows.map(withBuffer);
}

/** Revokes the key; false when there is no such key or it was revoked already. */
export async function revokeKey(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query(
    'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL',
    [id],
  );
  return (r.rowCount ?? 0) > 0;
}

/** Records when keys were last used (batched by the caller: one statement for many keys). */
export async function touchKeys(db: Queryable, used: Map<string, number>): Promise<void> {
  if (used.size === 0) {
    return;
  }
  await db.query(
    `UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, to_timestamp(u.ms / 1000.0))
     FROM unnest($1::text[], $2::double precision[]) AS u(id, ms)
     WHERE k.id = u.id`,
    [[...used.keys()], [...used.values()]],
  );
}

/** Revokes the keys registered from an earlier ADMIN_KEY (named so), but `keep`; their ids. */
export async function revokeOtherProvisionedKeys(db: Queryable, keep: string): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `UPDATE api_keys SET revoked_at = now()
     WHERE name = 'ADMIN_KEY' AND id <> $1 AND revoked_at IS NULL RETURNING id`,
    [keep],
  );
  return r.rows.map((row) => row.id);
}

/**
 * Claims the one-time bootstrap: true for the first caller only (of every process on this
 * database), which then creates the first admin key.
 */
export async function claimBootstrap(db: Queryable, keyId: string): Promise<boolean> {
  const r = await db.query(
    'INSERT INTO auth_bootstrap (one, key_id) VALUES (true, $1) ON CONFLICT (one) DO NOTHING',
    [keyId],
  );
  return (r.rowCount ?? 0) > 0;
}

/** PGlite returns bytea as Uint8Array, node-postgres as Buffer. */
function withBuffer(row: ApiKeyRow): ApiKeyRow {
  return Buffer.isBuffer(row.secret_hash)
    ? row
    : { ...row, secret_hash: Buffer.from(row.secret_hash) };
}
