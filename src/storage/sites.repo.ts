import type { Queryable } from './db.js';

/** A registered site (the `sites` table). */
export interface SiteRow {
  site_id: string;
  name: string;
  origins: string[];
  public_reports: boolean;
  ingest_key_required: boolean;
  created_at: Date;
  updated_at: Date;
}

export type SiteSettings = Pick<
  SiteRow,
  'name' | 'origins' | 'public_reports' | 'ingest_key_required'
>;

const COLUMNS =
  'site_id, name, origins, public_reports, ingest_key_required, created_at, updated_at';

export async function listSites(db: Queryable): Promise<SiteRow[]> {
  const r = await db.query<SiteRow>(`SELECT ${COLUMNS} FROM sites ORDER BY site_id`);
  return r.rows;
}

export async function getSite(db: Queryable, siteId: string): Promise<SiteRow | undefined> {
  const r = await db.query<SiteRow>(`SELECT ${COLUMNS} FROM sites WHERE site_id = $1`, [siteId]);
  return r.rows[0];
}

/** Inserts the site; undefined when one with that id exists. */
export async function insertSite(
  db: Queryable,
  siteId: string,
  s: SiteSettings,
): Promise<SiteRow | undefined> {
  const r = await db.query<SiteRow>(
    `INSERT INTO sites (site_id, name, origins, public_reports, ingest_key_required)
     VALUES ($1, $2, $3::text[], $4, $5) ON CONFLICT (site_id) DO NOTHING RETURNING ${COLUMNS}`,
    [siteId, s.name, s.origins, s.public_reports, s.ingest_key_required],
  );
  return r.rows[0];
}

/** Changes the given settings; undefined when there is no such site. */
export async function updateSite(
  db: Queryable,
  siteId: string,
  s: Partial<SiteSettings>,
): Promise<SiteRow | undefined> {
  const r = await db.query<SiteRow>(
    `UPDATE sites SET
       name = COALESCE($2, name),
       origins = COALESCE($3::text[], origins),
       public_reports = COALESCE($4, public_reports),
       ingest_key_required = COALESCE($5, ingest_key_required),
       updated_at = now()
     WHERE site_id = $1 RETURNING ${COLUMNS}`,
    [
      siteId,
      s.name ?? null,
      s.origins ?? null,
      s.public_reports ?? null,
      s.ingest_key_required ?? null,
    ],
  );
  return r.rows[0];
}

/** Removes the site from the registry (its numbers stay); false when there was none. */
export async function deleteSite(db: Queryable, siteId: string): Promise<boolean> {
  const r = await db.query('DELETE FROM sites WHERE site_id = $1', [siteId]);
  return (r.rowCount ?? 0) > 0;
}
