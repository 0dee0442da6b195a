import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createPgliteDb } from '../../src/storage/pglite-db.js';
import { migrate } from '../../src/storage/migrate.js';

/**
 * Creating an embedded database takes seconds; tests copy a template made once per set of
 * migrations instead.
 */
export default async function setup(project: TestProject): Promise<void> {
  const dir = new URL('../../migrations/', import.meta.url);
  const hash = createHash('sha256');
  for (const f of readdirSync(dir).sort()) {
    hash.update(f).update(readFileSync(new URL(f, dir)));
  }
  const template = join(tmpdir(), `tally-pg-template-${hash.digest('hex').slice(0, 12)}`);
  if (!existsSync(join(template, 'PG_VERSION'))) {
    const building = `${template}.${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    const db = await createPgliteDb({ dataDir: building });
    await migrate(db);
    await db.close();
    rmSync(template, { recursive: true, force: true });
    renameSync(building, template);
  }
  project.provide('pgTemplate', template);
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgTemplate: string;
  }
}
