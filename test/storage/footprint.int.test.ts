/**
 * The embedded database's footprint, on real files and a real child process: `tally serve` on
 * a fresh data directory (initdb included) peaks far below the 1 GB it used to, and the
 * database checkpoints by itself, so its WAL, and what a crash replays at the next start, stays
 * bounded. Nothing mocked. Reads /proc (Linux), as the benchmark does.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { createPgliteDb } from '../../src/storage/pglite-db.js';
import { WAL_CHECK_MS, WAL_CHECKPOINT_BYTES } from '../../src/storage/pglite-settings.js';
import { stopChild } from '../harness/spawn.js';
import { startChild } from '../helpers/child.js';
import { newDataDir, waitFor } from '../helpers/server.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) {
    rmSync(d, { recursive: true, force: true });
  }
});

const statusMiB = (pid: number, field: 'VmHWM' | 'VmRSS') =>
  Number(
    new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1],
  ) / 1024;

// Before: 906 MiB idle and 1,004-1,067 peak, 450 of them left behind by initdb, 120 by a 128 MB
// buffer pool, 60 by the TypeScript loader's threads. Now about 185 idle (docs/benchmarks.md,
// "Embedded footprint"); the bounds leave room for a noisy machine, not for a regression.
it(
  'tally serve, started as npm start starts it, stays small: idle and at its peak',
  { timeout: 120_000 },
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tally-footprint-'));
    dirs.push(dataDir);
    // A first start (initdb in a child process), then a second on the same data directory.
    await stopChild(await startChild({ DATA_DIR: dataDir, AUTH: 'off' }));
    const child = await startChild({ DATA_DIR: dataDir, AUTH: 'off' });
    try {
      await new Promise((r) => setTimeout(r, 5000));
      expect(statusMiB(child.pid, 'VmRSS')).toBeLessThan(250);
      expect(statusMiB(child.pid, 'VmHWM')).toBeLessThan(350);
    } finally {
      await stopChild(child);
    }
  },
);

const walSinceCheckpoint = async (db: Db) =>
  (
    await db.query<{ bytes: number }>(
      'SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), redo_lsn)::float8 AS bytes FROM pg_control_checkpoint()',
    )
  ).rows[0]!.bytes;

it('checkpoints by itself once WAL_CHECKPOINT_BYTES of WAL are written', async () => {
  const dataDir = newDataDir();
  dirs.push(dataDir);
  const db = await createPgliteDb({ dataDir: join(dataDir, 'pg'), asyncCommit: true });
  try {
    await db.query('CREATE TABLE wal_fill (id int, pad text)');
    const lsn = async (sql: string) => (await db.query<{ lsn: string }>(sql)).rows[0]!.lsn;
    const redo = () => lsn('SELECT redo_lsn::text AS lsn FROM pg_control_checkpoint()');
    const redoBefore = await redo();
    const start = await lsn('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    // About 90 MB of heap, so about as much WAL.
    await db.query(
      "INSERT INTO wal_fill SELECT g, repeat('x', 500) FROM generate_series(1, 160000) g",
    );
    const written = await db.query<{ bytes: number }>(
      'SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::float8 AS bytes',
      [start],
    );
    expect(written.rows[0]!.bytes).toBeGreaterThan(WAL_CHECKPOINT_BYTES);
    // A checkpoint of its own follows (on a slow machine it may already have: the periodic
    // check can run between the insert and the query above), and little WAL is left after it.
    await waitFor(
      async () =>
        (await redo()) !== redoBefore && (await walSinceCheckpoint(db)) < WAL_CHECKPOINT_BYTES,
      3 * WAL_CHECK_MS,
    );
  } finally {
    await db.close();
  }
});
