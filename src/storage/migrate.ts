import { readdir, readFile } from 'node:fs/promises';
import type { Db } from './db.js';

const MIGRATIONS_DIR = new URL('../../migrations/', import.meta.url);

export interface MigrationResult {
  applied: string[];
  current: number;
}

/**
 * Applies the numbered plain-SQL migrations that are missing, in order, in one transaction
 * under an advisory lock, so many processes may start at once. Never edit a shipped file.
 */
export async function migrate(db: Db, dir: URL = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('tally:migrate'))");
    await tx.query(
      'CREATE TABLE IF NOT EXISTS tally_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await tx.query<{ version: number }>('SELECT version FROM tally_migrations')).rows.map((r) =>
        Number(r.version),
      ),
    );
    const applied: string[] = [];
    let current = Math.max(0, ...done);
    for (const file of files) {
      const version = Number(file.slice(0, 4));
      if (done.has(version)) {
        continue;
      }
      const sql = await readFile(new URL(file, dir), 'utf8');
      for (const stmt of splitStatements(sql)) {
        await tx.query(stmt);
      }
      await tx.query('INSERT INTO tally_migrations (version, name) VALUES ($1, $2)', [
        version,
        file,
      ]);
      applied.push(file);
      current = Math.max(current, version);
    }
    return { applied, current };
  });
}

/**
 * Plain multi-statement SQL split on semicolons at line ends, except inside a `$$` body (a
 * `DO` block), whose statements end lines too.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let pending = '';
  for (const part of sql.split(/;\s*$/m)) {
    pending = pending ? `${pending};${part}` : part;
    if ((pending.match(/\$\$/g) ?? []).length % 2 === 0) {
      out.push(pending.trim());
      pending = '';
    }
  }
  if (pending.trim()) {
    out.push(pending.trim());
  }
  return out.filter((s) => s.replace(/--.*$/gm, '').trim());
}
