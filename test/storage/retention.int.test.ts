/**
 * Retention on a real PostgreSQL: only what is older than its retention goes, dead letters in
 * batches, per-user rows a day at a time with each day's distinct count kept, so daily unique
 * users stay exact and reports over purged days still count them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createRetention } from '../../src/aggregate/retention.js';
import { createLogger } from '../../src/logger.js';
import { breakdown } from '../../src/reporting/reports/breakdown.js';
import { filteredTotals } from '../../src/reporting/reports/filtered.js';
import { siteStats } from '../../src/reporting/reports/site-stats.js';
import { applyRollups } from '../../src/storage/rollups.repo.js';
import { deleteUserData } from '../../src/storage/user-data.repo.js';
import { siteTimeseries } from '../../src/reporting/reports/site-timeseries.js';
import type { Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { createPgDb } from '../../src/storage/pg-db.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { requireService } from '../helpers/services.js';

const up = requireService(
  'PostgreSQL',
  await pgAvailable(),
  'it runs on 127.0.0.1:5432 on this machine',
);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c();
  }
});

const NOW = Date.parse('2026-12-01T12:00:00Z');
const logger = createLogger({ level: 'silent' });

async function users(db: Db, rows: [string, string, string][]) {
  await db.query(
    'INSERT INTO site_daily_users (site_id, day, user_key) SELECT * FROM unnest($1::text[], $2::date[], $3::text[])',
    [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])],
  );
}

describe.runIf(up)('retention', () => {
  it('purges only what is old, and keeps the purged days in the unique-user reports', async () => {
    const t = await createTestDatabase();
    cleanups.push(t.drop);
    const db = createPgDb({ url: t.url, poolSize: 2 });
    cleanups.push(() => db.close());
    await migrate(db);
    // u1 and u2 on an old day, u1 again on another old day, u1 and u3 recently.
    await users(db, [
      ['s', '2026-10-01', 'u:u1'],
      ['s', '2026-10-01', 'u:u2'],
      ['s', '2026-10-02', 'u:u1'],
      ['other', '2026-10-01', 'u:u9'],
      ['s', '2026-11-25', 'u:u1'],
      ['s', '2026-11-25', 'u:u3'],
    ]);
    const old = new Date(NOW - 40 * 86_400_000).toISOString();
    const recent = new Date(NOW - 5 * 86_400_000).toISOString();
    await db.query(
      `INSERT INTO dead_letters (failed_at, event_id, reason, payload)
       SELECT CASE WHEN g <= 12000 THEN $1::timestamptz ELSE $2::timestamptz END, 'e' || g, 'r', '{}' FROM generate_series(1, 12003) g`,
      [old, recent],
    );
    const before = await siteStats(db, 's', '2026-10-01', '2026-11-30', 10);
    expect(before.unique_users).toBe(3);

    const purge = createRetention(db, logger, {
      deadLetterDays: 30,
      userRowDays: 30,
      clock: () => NOW,
    });
    expect(await purge()).toEqual({ deadLetters: 12000, userRows: 4, minuteRows: 0 });
    const left = await db.query<{ n: string }>('SELECT count(*) AS n FROM dead_letters');
    expect(Number(left.rows[0]!.n)).toBe(3);
    const rows = await db.query<{ day: string }>(
      'SELECT day::text AS day FROM site_daily_users ORDER BY day',
    );
    expect(rows.rows.map((r) => r.day)).toEqual(['2026-11-25', '2026-11-25']);
    const counts = await db.query<{ site_id: string; day: string; users: string }>(
      'SELECT site_id, day::text AS day, users FROM site_daily_user_counts ORDER BY site_id, day',
    );
    expect(counts.rows.map((r) => [r.site_id, r.day, Number(r.users)])).toEqual([
      ['other', '2026-10-01', 1],
      ['s', '2026-10-01', 2],
      ['s', '2026-10-02', 1],
    ]);

    // Daily figures stay exact; a range over purged days sums them (u1 is counted per day).
    const series = await siteTimeseries(
      db,
      's',
      Date.parse('2026-10-01'),
      Date.parse('2026-10-02'),
      'day',
    );
    expect(series.map((p) => p.unique_users)).toEqual([2, 1]);
    expect((await siteStats(db, 's', '2026-10-01', '2026-10-01', 10)).unique_users).toBe(2);
    expect((await siteStats(db, 's', '2026-10-01', '2026-11-30', 10)).unique_users).toBe(5);
    expect((await siteStats(db, 's', '2026-11-25', '2026-11-25', 10)).unique_users).toBe(2);

    // A second pass has nothing left to do; a late row for a purged day is added to its count.
    expect(await purge()).toEqual({ deadLetters: 0, userRows: 0, minuteRows: 0 });
    await users(db, [['s', '2026-10-01', 'u:u7']]);
    expect(await purge()).toEqual({ deadLetters: 0, userRows: 1, minuteRows: 0 });
    expect((await siteStats(db, 's', '2026-10-01', '2026-10-01', 10)).unique_users).toBe(3);
  });

  it("purges the dimensions' per-visitor rows with their counts kept, and minute rows after an hour", async () => {
    const t = await createTestDatabase();
    cleanups.push(t.drop);
    const db = createPgDb({ url: t.url, poolSize: 2 });
    cleanups.push(() => db.close());
    await migrate(db);
    const d = {
      bot: false,
      source: 'Google',
      browser: 'Firefox',
      os: 'Linux',
      device: 'desktop',
      country: 'DE',
    };
    const ev = (user: string, ts: number) => ({
      event_id: `${user}-${ts}`,
      type: 'page_view',
      ts,
      received_at: ts,
      site_id: 's',
      path: '/',
      user_id: user,
    });
    const old = Date.parse('2026-10-01T10:00:00Z');
    const events = [ev('u1', old), ev('u2', old), ev('u1', NOW - 60_000)];
    await db.transaction((tx) =>
      applyRollups(tx, events, undefined, undefined, { dims: events.map(() => d), now: NOW }),
    );
    const visitors = async () =>
      (await breakdown(db, 's', '2026-10-01', '2026-12-01', { dimension: 'browser' }, 10)).map(
        (r) => [r.value, r.visitors],
      );
    expect(await visitors()).toEqual([['Firefox', 2]]);
    const purge = createRetention(db, logger, {
      deadLetterDays: 0,
      userRowDays: 30,
      clock: () => NOW,
    });
    // One day of rows in three tables: users, profiles, source; no minute row is an hour old.
    expect(await purge()).toEqual({ deadLetters: 0, userRows: 6, minuteRows: 0 });
    // u1 counts on each day now (as unique users over purged days do).
    expect(await visitors()).toEqual([['Firefox', 3]]);
    expect(
      await filteredTotals(db, 's', '2026-10-01', '2026-10-01', {
        dimension: 'source',
        value: 'Google',
      }),
    ).toEqual({ views: 2, events: 2, visitors: 2 });
    const later = createRetention(db, logger, {
      deadLetterDays: 0,
      userRowDays: 0,
      clock: () => NOW + 2 * 3_600_000,
    });
    expect(await later()).toEqual({ deadLetters: 0, userRows: 0, minuteRows: 3 });
    // Erasure: the user's remaining rows of every per-user table.
    await deleteUserData(db, 'u1', undefined);
    for (const table of ['site_daily_users', 'site_daily_user_profiles', 'site_daily_dim_users']) {
      const r = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      expect(Number(r.rows[0]!.n), table).toBe(0);
    }
  });

  it('anonymous visitors keep their per-day counts through a purge, counted once', async () => {
    const t = await createTestDatabase();
    cleanups.push(t.drop);
    const db = createPgDb({ url: t.url, poolSize: 2 });
    cleanups.push(() => db.close());
    await migrate(db);
    const d = {
      bot: false,
      source: 'Google',
      browser: 'Firefox',
      os: 'Linux',
      device: 'desktop',
      country: 'DE',
    };
    const old = Date.parse('2026-10-01T10:00:00Z');
    const ev = (who: { user_id?: string; vh?: string }, ts: number) => ({
      event_id: `${who.user_id ?? who.vh}-${ts}`,
      type: 'page_view',
      ts,
      received_at: ts,
      site_id: 's',
      path: '/',
      ...who,
    });
    // Two anonymous visitors and a named one on the old day; the named one again recently.
    const events = [
      ev({ vh: 'a1' }, old),
      ev({ vh: 'a1' }, old + 1000),
      ev({ vh: 'a2' }, old),
      ev({ user_id: 'n1' }, old),
      ev({ user_id: 'n1' }, NOW - 86_400_000),
    ];
    await db.transaction((tx) =>
      applyRollups(tx, events, undefined, undefined, { dims: events.map(() => d), now: NOW }),
    );
    const figures = async () => ({
      users: (await siteStats(db, 's', '2026-10-01', '2026-12-01', 10)).unique_users,
      browser: (
        await breakdown(db, 's', '2026-10-01', '2026-12-01', { dimension: 'browser' }, 10)
      ).map((r) => [r.value, r.visitors]),
      google: (
        await filteredTotals(db, 's', '2026-10-01', '2026-12-01', {
          dimension: 'source',
          value: 'Google',
        })
      ).visitors,
    });
    expect(await figures()).toEqual({ users: 3, browser: [['Firefox', 3]], google: 3 });
    const purge = createRetention(db, logger, {
      deadLetterDays: 0,
      userRowDays: 30,
      clock: () => NOW,
    });
    // The old day's rows go (3 visitors × users, profiles, source); n1 then counts on each day.
    expect((await purge()).userRows).toBe(9);
    expect(await figures()).toEqual({ users: 4, browser: [['Firefox', 4]], google: 4 });
  });

  it('keeps everything with retention 0', async () => {
    const t = await createTestDatabase();
    cleanups.push(t.drop);
    const db = createPgDb({ url: t.url, poolSize: 2 });
    cleanups.push(() => db.close());
    await migrate(db);
    await users(db, [['s', '2001-01-01', 'u:u1']]);
    await db.query(
      `INSERT INTO dead_letters (failed_at, event_id, reason, payload) VALUES ('2001-01-01', 'e', 'r', '{}')`,
    );
    const purge = createRetention(db, logger, {
      deadLetterDays: 0,
      userRowDays: 0,
      clock: () => NOW,
    });
    expect(await purge()).toEqual({ deadLetters: 0, userRows: 0, minuteRows: 0 });
  });
});
