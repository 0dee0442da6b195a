import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import type { TestProject } from 'vitest/node';
import { createPgliteDb } from '../../src/storage/pglite-db.js';
import { migrate } from '../../src/storage/migrate.js';
import { redisAvailable, TEST_REDIS_URL } from './services.js';

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
  await allowRedisWithoutAof();
}

/**
 * Tally refuses a Redis without AOF. CI turns it on in the shared Redis (scripts/services.sh);
 * on a developer's machine whose Redis runs without it, the suites that use that Redis are
 * allowed to (the processes they start inherit the setting) rather than fail, and say so. The
 * fault tests that check the refusal run their own Redis and set it themselves.
 */
async function allowRedisWithoutAof(): Promise<void> {
  if (process.env['REDIS_ALLOW_NO_PERSISTENCE'] !== undefined || !(await redisAvailable())) {
    return;
  }
  const client = createClient({ url: TEST_REDIS_URL, socket: { reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const aof = await client.configGet('appendonly');
    if (aof['appendonly'] === 'no') {
      process.env['REDIS_ALLOW_NO_PERSISTENCE'] = 'true';
      console.warn(
        `global setup: the Redis at ${TEST_REDIS_URL} runs without AOF; the suites run with REDIS_ALLOW_NO_PERSISTENCE=true (bash scripts/services.sh up turns AOF on)`,
      );
    }
  } catch {
    // CONFIG may be disabled (a managed Redis): Tally itself decides, from INFO persistence.
  } finally {
    await client.quit().catch(() => undefined);
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgTemplate: string;
  }
}
