/**
 * The daily visitor salts on real databases, PostgreSQL (two pools standing for two API
 * processes) and embedded PGlite, then cookieless unique users through real HTTP: the
 * single-process service on each database, and two `tally api` processes with a worker on one
 * PostgreSQL and a Redis stream. Only the salt objects' clock is injected.
 */
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { normalizeEvent } from '../../src/events/normalize.js';
import {
  createVisitorSalts,
  saltStoreOf,
  type VisitorSalts,
} from '../../src/ingest/visitor-salts.js';
import type { Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { createPgDb } from '../../src/storage/pg-db.js';
import { createPgliteDb } from '../../src/storage/pglite-db.js';
import { startChild, type Child } from '../helpers/child.js';
import { caughtUp, get, post, startServer, today, waitFor } from '../helpers/server.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { redisAvailable, requireService, TEST_REDIS_URL } from '../helpers/services.js';

// Real browsers' user agents: a made-up one ("browser one") is a bot to isbot, and a bot's
// events are not counted.
const BROWSER_ONE =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const BROWSER_TWO = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';

const pgUp = requireService(
  'PostgreSQL',
  await pgAvailable(),
  'it runs on 127.0.0.1:5432 on this machine',
);
const redisUp = requireService('Redis', await redisAvailable(), 'bash scripts/services.sh up');

const DAY = 86_400_000;
const silent = pino({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c();
  }
});

/** Two handles on one database, as two API processes have (PGlite: one handle, one process). */
interface Pair {
  a: Db;
  b: Db;
}

async function pgPair(): Promise<Pair> {
  const database = await createTestDatabase();
  const a = createPgDb({ url: database.url, poolSize: 2 });
  const b = createPgDb({ url: database.url, poolSize: 2 });
  cleanups.push(async () => {
    await Promise.all([a.close(), b.close()]);
    await database.drop();
  });
  await migrate(a);
  return { a, b };
}

async function pglitePair(): Promise<Pair> {
  const dir = mkdtempSync(join(tmpdir(), 'tally-salts-'));
  cpSync(inject('pgTemplate'), dir, { recursive: true });
  const db = await createPgliteDb({ dataDir: dir });
  cleanups.push(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { a: db, b: db };
}

function describeSalts(
  name: string,
  open: () => Promise<Pair>,
  serverEnv: () => Promise<Record<string, string>>,
) {
  describe(`visitor salts on ${name}`, () => {
    let pair: Pair;
    const opened: VisitorSalts[] = [];
    // A UTC day number and a clock at its noon, moved by the tests.
    const T = Math.floor(Date.now() / DAY);
    let clock = { now: T * DAY + DAY / 2 };
    const salts = async (db: Db, refreshMs?: number) => {
      const s = await createVisitorSalts({
        store: saltStoreOf(db),
        logger: silent,
        clock: () => clock.now,
        ...(refreshMs ? { refreshMs } : {}),
      });
      opened.push(s);
      return s;
    };
    const rows = async () =>
      (
        await pair.a.query<{ day: number; salt: string }>(
          'SELECT day, salt FROM visitor_salts ORDER BY day',
        )
      ).rows.map((r) => ({ day: Number(r.day), salt: r.salt }));

    beforeAll(async () => {
      pair = await open();
    });
    beforeEach(async () => {
      clock = { now: T * DAY + DAY / 2 };
      await pair.a.query('DELETE FROM visitor_salts');
    });
    afterEach(() => {
      opened.splice(0).forEach((s) => s.close());
    });

    it("two processes agree on each day's salt, and each day has its own", async () => {
      // Both create the three days at once: one insert wins each day, the other reads it back.
      const [a, b] = await Promise.all([salts(pair.a), salts(pair.b)]);
      const table = await rows();
      expect(table.map((r) => r.day)).toEqual([T - 1, T, T + 1]);
      for (const { day, salt } of table) {
        expect(a.saltFor(day)).toBe(salt);
        expect(b.saltFor(day)).toBe(salt);
      }
      expect(new Set(table.map((r) => r.salt)).size).toBe(3);
      expect(table.every((r) => r.salt.length >= 32)).toBe(true);
    });

    it('48 hours on, the first day is gone from the table and from memory', async () => {
      const [a, b] = await Promise.all([salts(pair.a), salts(pair.b)]);
      const first = a.saltFor(T - 1);
      clock.now += 2 * DAY;
      await a.refresh();
      expect((await rows()).map((r) => r.day)).toEqual([T + 1, T + 2, T + 3]);
      expect(a.days()).toEqual([T + 1, T + 2, T + 3]);
      expect(a.saltFor(T - 1)).toBe(a.saltFor(T + 2));
      expect((await rows()).map((r) => r.salt)).not.toContain(first);
      // The other process forgets it at its own refresh, and takes the days the first created.
      expect(b.days()).toEqual([T - 1, T, T + 1]);
      await b.refresh();
      expect(b.days()).toEqual([T + 1, T + 2, T + 3]);
      expect([T + 1, T + 2, T + 3].map((d) => b.saltFor(d))).toEqual(
        [T + 1, T + 2, T + 3].map((d) => a.saltFor(d)),
      );
    });

    it('refreshes on its own timer', async () => {
      await salts(pair.a, 20);
      clock.now += 2 * DAY;
      await waitFor(async () => (await rows())[0]?.day === T + 1);
      expect((await rows()).map((r) => r.day)).toEqual([T + 1, T + 2, T + 3]);
    });

    it('hashes a visitor alike in two processes on one day and differently the next', async () => {
      const [a, b] = await Promise.all([salts(pair.a), salts(pair.b)]);
      const vh = (s: VisitorSalts, ts: number, ua = 'Mozilla/5.0 (X11; Linux x86_64)') => {
        const r = normalizeEvent(
          { type: 'page_view', site_id: 'salted', ts },
          0,
          { now: clock.now, ip: '198.51.100.7', userAgent: ua },
          { minTsMs: 0, maxFutureMs: 3_600_000, visitorSalt: s.saltFor },
        );
        return r.ok ? r.event.vh : undefined;
      };
      const day1 = vh(a, clock.now);
      expect(day1).toHaveLength(22);
      expect(vh(b, clock.now - 3_600_000)).toBe(day1);
      expect(vh(b, clock.now, 'another browser')).not.toBe(day1);
      clock.now += DAY;
      await Promise.all([a.refresh(), b.refresh()]);
      const day2 = vh(a, clock.now);
      expect(vh(b, clock.now)).toBe(day2);
      expect(day2).not.toBe(day1);
      // A late event of the day before still gets that day's salt, in either process.
      expect(vh(b, clock.now - DAY)).toBe(day1);
    });

    it('counts cookieless unique users through real HTTP, creating no salt file', async () => {
      const s = await startServer(await serverEnv());
      try {
        const pv = { type: 'page_view', site_id: 'cookieless', path: '/' };
        const send = (ua: string) => post(`${s.url}/v1/events`, pv, { 'user-agent': ua });
        expect((await send(BROWSER_ONE)).status).toBe(202);
        expect((await send(BROWSER_ONE)).status).toBe(202);
        expect((await send(BROWSER_TWO)).status).toBe(202);
        await caughtUp(s);
        const r = await get(`${s.url}/v1/stats?site_id=cookieless&date=${today()}`);
        expect(r.body).toMatchObject({ total_views: 3, unique_users: 2 });
        const days = await s.running.db.query<{ day: number }>(
          'SELECT day FROM visitor_salts ORDER BY day',
        );
        const now = Math.floor(Date.now() / DAY);
        expect(days.rows.map((d) => Number(d.day))).toEqual([now - 1, now, now + 1]);
        expect(existsSync(join(s.dataDir, 'visitor-salt'))).toBe(false);
      } finally {
        await s.close();
      }
    });
  });
}

describeSalts('embedded PGlite', pglitePair, async () => ({}));

describe.skipIf(!pgUp)('PostgreSQL', () => {
  describeSalts('a PostgreSQL server', pgPair, async () => {
    const database = await createTestDatabase();
    cleanups.push(database.drop);
    return { DATABASE_URL: database.url };
  });
});

describe.skipIf(!pgUp || !redisUp)('two API processes on one PostgreSQL', () => {
  const children: Child[] = [];
  afterAll(() => {
    children.forEach((c) => c.proc.kill('SIGKILL'));
  });

  it('count a visitor sending to both of them once', async () => {
    const database = await createTestDatabase();
    cleanups.push(database.drop);
    const id = randomUUID().slice(0, 8);
    const env = {
      DATABASE_URL: database.url,
      TRANSPORT: 'redis',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_STREAM: `tally-test-${id}`,
      CONSUMER_GROUP: `tally-test-${id}`,
      LOG_LEVEL: 'info',
    };
    children.push(await startChild(env, ['worker'], /tally worker is running/));
    // Started together: both create the day's salts at once, one of them wins each day.
    const apis = await Promise.all([startChild(env, ['api']), startChild(env, ['api'])]);
    children.push(...apis);
    const site = `salted-${id}`;
    const pv = { type: 'page_view', site_id: site, path: '/' };
    for (const [api, ua] of [
      [apis[0], BROWSER_ONE],
      [apis[1], BROWSER_ONE],
      [apis[1], BROWSER_TWO],
    ] as const) {
      expect((await post(`${api.url}/v1/events`, pv, { 'user-agent': ua })).status).toBe(202);
    }
    const stats = () => get(`${apis[0].url}/v1/stats?site_id=${site}&date=${today()}`);
    await waitFor(async () => (await stats()).body.total_views === 3, 30_000);
    expect((await stats()).body).toMatchObject({ total_views: 3, unique_users: 2 });
  }, 120_000);
});
