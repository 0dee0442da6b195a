/**
 * Dead letters listed, shown and replayed, and seed 003's queue page actions (pause, resume,
 * retry), on real `tally` processes over real HTTP: a throw-away PostgreSQL database (dead letters
 * made by the aggregator itself, and rows written straight into the table) and the embedded
 * database and log. The CLI runs as its own process. Nothing is mocked.
 */
import { readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDb } from '../../src/storage/pglite-db.js';
import { sleep, waitFor } from '../harness/ready.js';
import { spawnTally, stopChild } from '../harness/spawn.js';
import { startChild, type Child } from '../helpers/child.js';
import { newDataDir, today } from '../helpers/server.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { requireService } from '../helpers/services.js';

const children: Child[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of children) {
    c.proc.kill('SIGKILL');
  }
  for (const c of cleanups.reverse()) {
    await c();
  }
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One request over node:http, headers exactly as given (fetch adds and drops some itself). */
function call(
  base: string,
  path: string,
  opts: { method?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key !== undefined) {
    headers['authorization'] = `Bearer ${opts.key}`;
  }
  let payload: Buffer | undefined;
  if (opts.body !== undefined) {
    payload = Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      { method: opts.method ?? 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** `tally dead-letters <args>` as its own process. */
async function cli(args: string[], env: Record<string, string>) {
  const child = spawnTally(['dead-letters', ...args], { env: { LOG_LEVEL: 'warn', ...env } });
  const code = await child.exited;
  return { code, out: child.output() };
}

const pv = (id: string, site: string, path: string) => ({
  event_id: id,
  type: 'page_view',
  site_id: site,
  path,
  user_id: id,
});
/** A canonical event as the log carries it (what a dead letter's payload holds). */
const canonical = (id: string, site: string, path: string) => {
  const now = Date.now();
  return JSON.stringify({ ...pv(id, site, path), ts: now, received_at: now });
};

const pgUp = requireService('PostgreSQL', await pgAvailable(), 'it runs on 127.0.0.1:5432');

describe.runIf(pgUp)('dead letters on PostgreSQL, replayed through the API and the CLI', () => {
  const SITE = 'dl-pg';
  let s: Child;
  let key: string;
  let db: pg.Client;
  let env: Record<string, string>;
  const ids = {} as Record<'poison' | 'notJson' | 'notObject', number>;
  const api = (path: string, opts: Parameters<typeof call>[2] = {}) =>
    call(s.url, path, { key, ...opts });
  const views = async () =>
    (await api(`/v1/stats?site_id=${SITE}&date=${today()}`)).json.total_views as number;
  const drops = async () => (await api('/v1/drops')).json.drops as Record<string, number>;
  const idOf = async (eventId: string) =>
    Number(
      (await db.query('SELECT max(id) AS id FROM dead_letters WHERE event_id = $1', [eventId]))
        .rows[0].id,
    );
  /** Every event in the log aggregated (the embedded log's own count). */
  const drained = () =>
    waitFor(
      async () => {
        const log = (await call(s.url, '/health')).json.dependencies.log;
        return log.waiting === 0 && log.bytes === 0;
      },
      20_000,
      { intervalMs: 100 },
    );

  beforeAll(async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dataDir = newDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    env = { DATA_DIR: dataDir, DATABASE_URL: database.url, AUTH: 'on' };
    s = await startChild(env);
    children.push(s);
    env = { ...env, HOST: '127.0.0.1', PORT: new URL(s.url).port };
    key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    cleanups.push(() => db.end());
  });

  it('the aggregator dead-letters an event storage refuses; the list and the row show it', async () => {
    // A constraint stands in for any data error: the event's first failure, removed below.
    await db.query(
      "ALTER TABLE site_daily_paths ADD CONSTRAINT test_no_poison CHECK (path <> '/poison')",
    );
    const sent = await api('/v1/events', {
      method: 'POST',
      body: [pv('pg-ok', SITE, '/fine'), pv('pg-poison', SITE, '/poison')],
    });
    expect(sent.status).toBe(202);
    await waitFor(async () => (await api('/v1/dead-letters')).json.total === 1, 20_000);
    await db.query('ALTER TABLE site_daily_paths DROP CONSTRAINT test_no_poison');
    expect(await views()).toBe(1);
    ids.poison = await idOf('pg-poison');

    const list = await api('/v1/dead-letters');
    expect(list.status).toBe(200);
    expect(list.json.items).toEqual([
      {
        id: ids.poison,
        failed_at: expect.any(String),
        event_id: 'pg-poison',
        reason: expect.stringMatching(/^storage rejected the event: .*test_no_poison/),
        payload: expect.any(String),
        replayed_at: null,
        replays: 0,
      },
    ]);
    const one = await api(`/v1/dead-letters/${ids.poison}`);
    expect(one.json).toEqual(list.json.items[0]);
    expect(JSON.parse(one.json.payload)).toMatchObject(pv('pg-poison', SITE, '/poison'));
    expect((await api('/v1/dead-letters/999999')).status).toBe(404);
    expect((await api('/v1/dead-letters/abc')).status).toBe(400);
    expect((await call(s.url, `/v1/dead-letters/${ids.poison}`)).status).toBe(401);
  });

  it('POST /v1/dead-letters/replay takes exactly one selector: 400 naming the field otherwise', async () => {
    const refused = async (body: unknown) => {
      const r = await api('/v1/dead-letters/replay', { method: 'POST', body });
      expect(r.status, r.text).toBe(400);
      expect(r.json.error.code).toBe('INVALID_PARAMETER');
      return r.json.error.details.map((d: { field: string }) => d.field);
    };
    expect(await refused({})).toEqual(['ids', 'reason', 'all']);
    expect(await refused({ ids: [1], all: true })).toEqual(['all']);
    expect(await refused({ reason: 'x', all: true, ids: [1] })).toEqual(['reason', 'all']);
    expect(await refused({ all: false })).toEqual(['all']);
    expect(await refused({ ids: [] })).toEqual(['ids']);
    expect(await refused({ ids: [0] })).toEqual(['ids.0']);
    expect(await refused({ all: true, again: 'yes' })).toEqual(['again']);
    expect(await refused({ all: true, everything: true })).toEqual(['everything']);
    expect(await refused([1, 2])).toEqual(['body']);
    const noKey = await call(s.url, '/v1/dead-letters/replay', {
      method: 'POST',
      body: { all: true },
    });
    expect(noKey.status).toBe(401);
  });

  it('replay counts the event once; a payload that is not a JSON object is skipped and reported', async () => {
    await db.query(
      "INSERT INTO dead_letters (event_id, reason, payload) VALUES ('nj', 'test', 'not json {'), ('no', 'test', '[1,2]')",
    );
    ids.notJson = await idOf('nj');
    ids.notObject = await idOf('no');
    const r = await api('/v1/dead-letters/replay', { method: 'POST', body: { all: true } });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toEqual({
      replayed: 1,
      skipped: 2,
      skips: [
        { id: ids.notJson, reason: 'payload is not valid JSON' },
        { id: ids.notObject, reason: 'payload is not a JSON object' },
      ],
      last_id: ids.notObject,
      through_id: ids.notObject,
      remaining: 0,
    });
    await waitFor(async () => (await views()) === 2, 20_000);
    const replayed = (await api('/v1/dead-letters?replayed=true')).json;
    expect(replayed.total).toBe(1);
    expect(replayed.items[0]).toMatchObject({ id: ids.poison, replays: 1 });
    expect(Date.parse(replayed.items[0].replayed_at)).toBeGreaterThan(Date.now() - 60_000);
    const waiting = (await api('/v1/dead-letters?replayed=false')).json;
    expect(waiting.items.map((d: { id: number }) => d.id)).toEqual([ids.notObject, ids.notJson]);
    expect((await api('/v1/dead-letters?reason=test_no_poison')).json.total).toBe(1);
    // Nothing left that was not replayed but the two that cannot be.
    const again = await api('/v1/dead-letters/replay', { method: 'POST', body: { all: true } });
    expect(again.json).toMatchObject({ replayed: 0, skipped: 2 });
  });

  it('the CLI goes through the server that holds the log; --again sends it again, still counted once', async () => {
    const before = await drops();
    const r = await cli(['replay', '--id', String(ids.poison), '--json'], env);
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      replayed: 0,
      skipped: 1,
      skips: [{ id: ids.poison, reason: 'already replayed (again: replay it anyway)' }],
    });
    const again = await cli(['replay', '--id', String(ids.poison), '--again'], env);
    expect(again.code, again.out).toBe(0);
    expect(again.out.trim()).toBe('replayed 1, skipped 0');
    await drained();
    await waitFor(async () => (await drops()).duplicate === (before.duplicate ?? 0) + 1, 20_000);
    expect(await views()).toBe(2);

    const list = await cli(['list'], env);
    expect(list.code, list.out).toBe(0);
    expect(list.out).toMatch(
      new RegExp(
        `^${ids.poison}\\t\\S+\\treplayed \\S+ \\(2x\\)\\tpg-poison\\tstorage rejected`,
        'm',
      ),
    );
    expect(list.out).toMatch(new RegExp(`^${ids.notJson}\\t\\S+\\tnot replayed\\tnj\\ttest$`, 'm'));
    expect(list.out).toContain('3 of 3 shown');
    const pending = await cli(['list', '--not-replayed', '--json'], env);
    expect(JSON.parse(pending.out).total).toBe(2);
    const show = await cli(['show', String(ids.poison)], env);
    expect(show.code, show.out).toBe(0);
    expect(show.out).toMatch(/^reason {4}storage rejected the event: /m);
    expect(show.out).toContain('"event_id": "pg-poison"');
    const all = await cli(['replay', '--all'], env);
    expect(all.out.trim()).toBe(
      `replayed 0, skipped 2 (${ids.notJson}: payload is not valid JSON; ${ids.notObject}: payload is not a JSON object)`,
    );
  });

  it('the CLI refuses a wrong selector (exit 2) and a missing dead letter (exit 1)', async () => {
    for (const args of [
      ['replay'],
      ['replay', '--all', '--reason', 'x'],
      ['replay', '--id', 'x'],
    ]) {
      const r = await cli(args, env);
      expect(r.code, r.out).toBe(2);
      expect(r.out).toContain('usage:');
    }
    const missing = await cli(['show', '999999'], env);
    expect(missing.code).toBe(1);
    expect(missing.out).toContain('no dead letter 999999');
  });

  it('an event that fails again becomes a new dead letter with its new reason; the old row stays replayed', async () => {
    await db.query(
      "ALTER TABLE site_daily_paths ADD CONSTRAINT test_still_poison CHECK (path <> '/still')",
    );
    try {
      await db.query(
        "INSERT INTO dead_letters (event_id, reason, payload) VALUES ('pg-still', 'an old reason', $1)",
        [canonical('pg-still', SITE, '/still')],
      );
      const old = await idOf('pg-still');
      const r = await cli(['replay', '--reason', 'an old reason', '--json'], env);
      expect(JSON.parse(r.out)).toMatchObject({ replayed: 1, skipped: 0 });
      await waitFor(async () => (await idOf('pg-still')) > old, 20_000);
      const rows = await db.query(
        'SELECT id, reason, replays, replayed_at IS NOT NULL AS replayed FROM dead_letters WHERE event_id = $1 ORDER BY id',
        ['pg-still'],
      );
      expect(rows.rows.map((x) => [Number(x.id) === old, x.replays, x.replayed])).toEqual([
        [true, 1, true],
        [false, 0, false],
      ]);
      expect(rows.rows[1].reason).toMatch(/^storage rejected the event: .*test_still_poison/);
    } finally {
      await db.query('ALTER TABLE site_daily_paths DROP CONSTRAINT test_still_poison');
    }
  });

  it("seed 003's queue page retries failed jobs (admin key): by id from a form, all as JSON", async () => {
    await db.query(
      "INSERT INTO dead_letters (event_id, reason, payload) VALUES ('q-1', 'test', $1), ('q-2', 'test', $2)",
      [canonical('q-1', SITE, '/q'), canonical('q-2', SITE, '/q')],
    );
    const q1 = await idOf('q-1');
    const failed = async () =>
      (await call(s.url, '/api/queues/health')).json['analytics-events'].failed as number;
    // The two unreadable ones, the new dead letter of pg-still and these two.
    expect(await failed()).toBe(5);
    const page = await api('/api/queues/admin');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<strong>running</strong>');
    expect(page.text).toContain(
      `<input type="hidden" name="id" value="${q1}"><button type="submit">Retry</button>`,
    );
    expect(page.text).toContain('Retry all failed');
    expect((await call(s.url, '/api/queues/admin/retry', { method: 'POST' })).status).toBe(401);

    const form = {
      method: 'POST',
      body: `id=${q1}`,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html,application/xhtml+xml',
        'sec-fetch-site': 'same-origin',
      },
    };
    const crossSite = await api('/api/queues/admin/retry', {
      ...form,
      headers: { ...form.headers, 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.json).toMatchObject({ statusCode: 403, error: 'Forbidden' });
    const one = await api('/api/queues/admin/retry', form);
    expect(one.status, one.text).toBe(303);
    expect(one.headers.location).toBe('/api/queues/admin?done=retried&replayed=1&skipped=0');
    expect(await failed()).toBe(4);
    const notice = await api(one.headers.location as string);
    expect(notice.text).toContain('Retried 1 failed jobs; 0 skipped');
    const bad = await api('/api/queues/admin/retry', { ...form, body: 'id=-1' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ statusCode: 400, message: [expect.stringMatching(/^id /)] });

    const all = await api('/api/queues/admin/retry', { method: 'POST', body: {} });
    expect(all.status, all.text).toBe(200);
    expect(all.json).toMatchObject({ replayed: 2, skipped: 2 });
    // pg-ok, pg-poison, q-1, and now q-2 and pg-still (its constraint is gone).
    await waitFor(async () => (await views()) === 5, 20_000);
    expect(await failed()).toBe(2);
  });
});

describe('dead letters in the embedded database: replayed by the CLI with no server, aggregated at the next start', () => {
  const SITE = 'dl-emb';
  let dataDir: string;
  const env = () => ({ DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '1' });

  beforeAll(async () => {
    dataDir = newDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const db = await createPgliteDb({ dataDir: join(dataDir, 'pg') });
    try {
      await db.query(
        "INSERT INTO dead_letters (event_id, reason, payload) VALUES ('emb-1', 'test', $1), ('emb-bad', 'test', 'undefined')",
        [canonical('emb-1', SITE, '/e')],
      );
    } finally {
      await db.close();
    }
  });

  it('replays into the embedded log while no server runs; the server counts it at start, once', async () => {
    const r = await cli(['replay', '--all', '--json'], env());
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      replayed: 1,
      skipped: 1,
      skips: [{ id: 2, reason: 'payload is not valid JSON' }],
      last_id: 2,
      through_id: 2,
      remaining: 0,
    });
    const list = await cli(['list', '--replayed', '--json'], env());
    expect(JSON.parse(list.out)).toMatchObject({
      total: 1,
      items: [{ id: 1, event_id: 'emb-1', replays: 1, replayed_at: expect.any(String) }],
    });

    const s = await startChild({ DATA_DIR: dataDir });
    children.push(s);
    const views = async () =>
      (await call(s.url, `/v1/stats?site_id=${SITE}&date=${today()}`)).json.total_views;
    await waitFor(async () => (await views()) === 1, 20_000);
    // With the server holding the database, the CLI goes through it (AUTH=off: no key).
    const again = await cli(['replay', '--id', '1', '--again'], {
      ...env(),
      PORT: new URL(s.url).port,
    });
    expect(again.out.trim()).toBe('replayed 1, skipped 0');
    await waitFor(async () => (await call(s.url, '/v1/drops')).json.drops.duplicate === 1, 20_000);
    expect(await views()).toBe(1);
    expect(await stopChild(s)).toBe(0);
  });
});

describe("seed 003's queue page pauses and resumes the aggregator (BULL_BOARD basic auth)", () => {
  const SITE = 'dl-pause';
  const BASIC = `Basic ${Buffer.from('board:secret-pw').toString('base64')}`;
  let dataDir: string;
  let s: Child;
  let key: string;
  const start = async () => {
    s = await startChild({
      DATA_DIR: dataDir,
      AUTH: 'on',
      BULL_BOARD_USER: 'board',
      BULL_BOARD_PASSWORD: 'secret-pw',
    });
    children.push(s);
    key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
  };
  const board = (path: string, method = 'POST') =>
    call(s.url, path, { method, headers: { authorization: BASIC } });
  const views = async () =>
    (await call(s.url, `/v1/stats?site_id=${SITE}&date=${today()}`, { key })).json
      .total_views as number;
  const send = (from: number, n: number) =>
    call(s.url, '/v1/events', {
      method: 'POST',
      body: Array.from({ length: n }, (_, i) => pv(`p-${from + i}`, SITE, '/p')),
    });

  beforeAll(async () => {
    dataDir = newDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    await start();
  });

  it('pause stops counting, resume catches up; the page shows the state', async () => {
    expect((await call(s.url, '/api/queues/admin/pause', { method: 'POST', key })).status).toBe(
      401,
    );
    const paused = await board('/api/queues/admin/pause');
    expect([paused.status, paused.json]).toEqual([200, { paused: true }]);
    expect((await send(0, 50)).status).toBe(202);
    await sleep(1500);
    expect(await views()).toBe(0);
    const health = await call(s.url, '/api/queues/health');
    expect(health.json['analytics-events']).toMatchObject({ waiting: 50, completed: 0 });
    const page = await board('/api/queues/admin', 'GET');
    expect(page.text).toContain('<strong>paused</strong>');
    expect(page.text).toContain('action="/api/queues/admin/resume"');

    const resumed = await board('/api/queues/admin/resume');
    expect([resumed.status, resumed.json]).toEqual([200, { paused: false }]);
    await waitFor(async () => (await views()) === 50, 20_000);
    expect((await board('/api/queues/admin', 'GET')).text).toContain('<strong>running</strong>');
  });

  it('a shutdown while paused exits at once and leaves the waiting events for the next start', async () => {
    expect((await board('/api/queues/admin/pause')).json).toEqual({ paused: true });
    expect((await send(50, 20)).status).toBe(202);
    await sleep(500);
    expect(await views()).toBe(50);
    const t0 = Date.now();
    expect(await stopChild(s)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000);
    await start();
    await waitFor(async () => (await views()) === 70, 20_000);
  });
});
