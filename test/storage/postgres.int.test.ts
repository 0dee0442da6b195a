/**
 * The same pipeline on a PostgreSQL server (DATABASE_URL): migrations under an advisory lock
 * from many processes at once, and ingest → aggregate → report with exact counts.
 * Needs PostgreSQL on 127.0.0.1:5432; under CI=true it must be there.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDb } from '../../src/storage/pg-db.js';
import { migrate } from '../../src/storage/migrate.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { caughtUp, get, post, startServer, today } from '../helpers/server.js';

const available = await pgAvailable();
if (!available && process.env.CI === 'true') {
  throw new Error(
    'PostgreSQL is not reachable on 127.0.0.1:5432 and CI=true: this suite may not skip',
  );
}
if (!available) {
  console.warn('skipping PostgreSQL suite: no server on 127.0.0.1:5432');
}

describe.skipIf(!available)('PostgreSQL server storage', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('applies migrations once when many processes start at once', async () => {
    const dbs = Array.from({ length: 4 }, () => createPgDb({ url: database.url, poolSize: 2 }));
    const results = await Promise.all(dbs.map((db) => migrate(db)));
    expect(results.map((r) => r.applied.length).sort()).toEqual([
      0,
      0,
      0,
      results.find((r) => r.applied.length > 0)!.applied.length,
    ]);
    const rows = await dbs[0]!.query<{ n: number }>(
      'SELECT COUNT(*)::int AS n FROM tally_migrations',
    );
    expect(rows.rows[0]!.n).toBe(results.find((r) => r.applied.length > 0)!.applied.length);
    await Promise.all(dbs.map((db) => db.close()));
  });

  it('ingests, deduplicates and reports exactly, buckets in UTC whatever the server time zone', async () => {
    const admin = createPgDb({ url: database.url, poolSize: 1 });
    await admin.query(
      `ALTER DATABASE ${new URL(database.url).pathname.slice(1)} SET timezone TO 'Pacific/Kiritimati'`,
    );
    await admin.close();
    const s = await startServer({ DATABASE_URL: database.url });
    try {
      const pv = (id: string, path: string) => ({
        event_id: id,
        type: 'page_view',
        site_id: 'pg',
        path,
        user_id: id,
      });
      await post(`${s.url}/v1/events`, [pv('1', '/a'), pv('1', '/a'), pv('2', '/b')]);
      await post(`${s.url}/v1/events`, [pv('2', '/b'), pv('3', '/a')]);
      await caughtUp(s);
      const r = await get(`${s.url}/v1/stats?site_id=pg&date=${today()}`);
      expect(r.body).toMatchObject({
        total_views: 3,
        unique_users: 3,
        top_paths: [
          { path: '/a', views: 2 },
          { path: '/b', views: 1 },
        ],
      });
      expect((await get(`${s.url}/v1/drops`)).body.drops.duplicate).toBe(2);
    } finally {
      await s.close();
    }
  });

  it('keeps the dedup rows of an older schema through the migrations to epoch milliseconds and to arrival generations', async () => {
    const older = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'tally-migrations-'));
    const db = createPgDb({ url: older.url, poolSize: 1 });
    try {
      const all = new URL('../../migrations/', import.meta.url);
      for (const f of readdirSync(all).filter((f) => f < '0004')) {
        copyFileSync(new URL(f, all), join(dir, f));
      }
      await migrate(db, pathToFileURL(`${dir}/`));
      await db.query(
        "INSERT INTO event_ids (event_id, ts) VALUES ('old-1', '2026-11-20T10:11:12.345Z')",
      );
      const applied = (await migrate(db)).applied;
      expect(applied).toContain('0004_cheaper_dedup.sql');
      expect(applied).toContain('0005_dedup_by_arrival.sql');
      // 0005 moves the rows into today's arrival generation, their time kept as the arrival.
      const r = await db.query<{ gen: number; event_id: string; received_ms: string }>(
        'SELECT gen, event_id, received_ms FROM event_ids',
      );
      expect(r.rows).toEqual([
        {
          gen: Math.floor(Date.now() / 86_400_000),
          event_id: 'old-1',
          received_ms: String(Date.parse('2026-11-20T10:11:12.345Z')),
        },
      ]);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
      await older.drop();
    }
  });
});
