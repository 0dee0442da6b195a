/**
 * The embedded database commits asynchronously only under the embedded log, which keeps every
 * batch until a synchronous commit covers it. Under Redis or Kafka an acknowledged batch is
 * gone from the broker, so its commit must be durable before the ack.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDb } from '../../src/main/components.js';

async function synchronousCommit(env: Record<string, string>): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'tally-pglite-'));
  cpSync(inject('pgTemplate'), join(dir, 'pg'), { recursive: true });
  const db = await openDb(loadConfig({ DATA_DIR: dir, ...env }));
  try {
    return (await db.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]
      ?.synchronous_commit;
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('embedded database commits', () => {
  it('are asynchronous under the embedded log', async () => {
    expect(await synchronousCommit({})).toBe('off');
  });

  it('are durable under a broker that forgets acknowledged batches', async () => {
    expect(
      await synchronousCommit({ TRANSPORT: 'redis', REDIS_URL: 'redis://127.0.0.1:6379' }),
    ).toBe('on');
    expect(await synchronousCommit({ TRANSPORT: 'kafka' })).toBe('on');
  });
});
