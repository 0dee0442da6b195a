import type { Db, Queryable } from '../storage/db.js';

export interface ImportState {
  name: string;
  source: string;
  position: string | undefined;
  records: number;
  imported: number;
  refused: Record<string, number>;
  finished: boolean;
}

export class ImportNameTaken extends Error {}

/**
 * The import's row, created on its first run. A name already used for another source (its
 * start differs) is refused rather than resumed at a position that means nothing there.
 */
export async function beginImport(
  db: Queryable,
  name: string,
  source: string,
  fingerprint: string,
): Promise<ImportState> {
  await db.query(
    '/* import:begin */ INSERT INTO imports (name, source, fingerprint) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
    [name, source, fingerprint],
  );
  const r = await db.query<{
    source: string;
    fingerprint: string;
    position: string | null;
    records: string;
    imported: string;
    refused: Record<string, number> | string;
    finished_at: unknown;
  }>(
    'SELECT source, fingerprint, position, records, imported, refused, finished_at FROM imports WHERE name = $1',
    [name],
  );
  const row = r.rows[0]!;
  if (row.fingerprint !== fingerprint) {
    throw new ImportNameTaken(
      `the import name "${name}" was used for other data (${row.source}); choose another --name`,
    );
  }
  return {
    name,
    source: row.source,
    position: row.position ?? undefined,
    records: Number(row.records),
    imported: Number(row.imported),
    refused: refusedOf(row.refused),
    finished: row.finished_at !== null,
  };
}

export class ImportMovedOn extends Error {}

/**
 * Moves the import from `from` to `to`, adding what the records in between added, in the
 * transaction that applied them. A later batch in flight waits here until the earlier one
 * commits; another run of the same import that moved it first makes this one fail (and roll
 * back): two runs at once can never both count a record. Returns the import's new totals.
 */
export async function advanceImport(
  tx: Queryable,
  name: string,
  from: string | undefined,
  to: string,
  added: { records: number; imported: number; refused: Record<string, number> },
): Promise<Totals> {
  const r = await tx.query<{
    records: string;
    imported: string;
    refused: Record<string, number> | string;
  }>(
    `/* import:advance */ UPDATE imports SET position = $3, records = records + $4, imported = imported + $5,
       refused = (SELECT COALESCE(jsonb_object_agg(k, n), '{}'::jsonb) FROM (
         SELECT k, SUM(v::int8) AS n FROM (
           SELECT * FROM jsonb_each_text(refused) UNION ALL SELECT * FROM jsonb_each_text($6::jsonb)
         ) AS e(k, v) GROUP BY k) AS s),
       updated_at = now()
     WHERE name = $1 AND position IS NOT DISTINCT FROM $2
     RETURNING records, imported, refused`,
    [name, from ?? null, to, added.records, added.imported, JSON.stringify(added.refused)],
  );
  const row = r.rows[0];
  if (row === undefined) {
    throw new ImportMovedOn(
      `the import "${name}" was moved on by another run; run it again to resume`,
    );
  }
  return {
    records: Number(row.records),
    imported: Number(row.imported),
    refused: refusedOf(row.refused),
  };
}

export interface Totals {
  records: number;
  imported: number;
  refused: Record<string, number>;
}

const refusedOf = (v: Record<string, number> | string): Record<string, number> => {
  const o = typeof v === 'string' ? (JSON.parse(v) as Record<string, unknown>) : v;
  return Object.fromEntries(Object.entries(o).map(([k, n]) => [k, Number(n)]));
};

/**
 * Marks the import finished with a synchronous commit: the embedded database commits batches
 * asynchronously, and this one flushes them all to disk before the import says it is done.
 */
export async function finishImport(db: Db, name: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SET LOCAL synchronous_commit = on');
    await tx.query(
      '/* import:finish */ UPDATE imports SET finished_at = now(), updated_at = now() WHERE name = $1',
      [name],
    );
  });
}
