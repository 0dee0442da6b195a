/**
 * Keys and access control, over real HTTP against `tally serve` child processes: the embedded
 * log and database (and, for erasure, a throw-away PostgreSQL database). Nothing is mocked.
 * Each test sends from its own X-Forwarded-For address (TRUSTED_PROXIES=127.0.0.1), so failed
 * keys in one test never throttle another.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../harness/ready.js';
import { stopChild } from '../harness/spawn.js';
import { startChild, type Child } from '../helpers/child.js';
import { newDataDir, today } from '../helpers/server.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { requireService } from '../helpers/services.js';
import {
  addresses,
  adminOf,
  call,
  expect401,
  fakeKey,
  NO_KEY,
  type Admin,
  type CallOptions,
  type Reply,
} from './auth-client.js';

const children: Child[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of children) {
    c.proc.kill('SIGKILL');
  }
  for (const c of cleanups) {
    await c();
  }
});

const pgUp = requireService('PostgreSQL', await pgAvailable(), 'it runs on 127.0.0.1:5432');
const DAY = today();
const KEY = /^tally_([0-9a-z]{10})_[A-Za-z0-9_-]{43}$/;
const address = addresses(1);

describe('AUTH=on, embedded storage', () => {
  const A = 'sec-a';
  const B = 'sec-b';
  const PUB = 'sec-pub';
  let dataDir: string;
  let keyFile: string;
  let s: Child;
  let admin: Admin;
  /** What the first start left, before the second start on the same data. */
  const boot = {} as {
    key: string;
    text: string;
    stat: Stats;
    sites: Reply;
    exit: number | null;
    output: string;
  };
  /** Every key this suite created or presented, and every fuzzed header: none may be logged. */
  const secrets = new Set<string>();
  const req = (path: string, opts: CallOptions = {}) => {
    if (opts.key !== undefined) {
      secrets.add(opts.key);
    }
    return call(s.url, path, { from: address(), ...opts });
  };
  const keys: Record<'readA' | 'readB' | 'readAll' | 'ingestAll', string> = {
    readA: '',
    readB: '',
    readAll: '',
    ingestAll: '',
  };
  const addKey = async (scope: string, sites: string[] = []) => {
    const k = await admin.addKey(scope, sites);
    secrets.add(k.key);
    return k;
  };

  beforeAll(async () => {
    dataDir = newDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    keyFile = join(dataDir, 'admin.key');
    const env = {
      AUTH: 'on',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'debug',
      TRUSTED_PROXIES: '127.0.0.1',
      AUTH_MAX_FAILURES: '5',
    };
    const first = await startChild(env);
    children.push(first);
    boot.text = readFileSync(keyFile, 'utf8');
    boot.stat = statSync(keyFile);
    boot.key = boot.text.trim();
    secrets.add(boot.key);
    boot.sites = await call(first.url, '/v1/sites', { key: boot.key, from: address() });
    boot.exit = await stopChild(first);
    boot.output = first.output();
    s = await startChild(env);
    children.push(s);
    admin = adminOf(s.url, boot.key, '10.200.0.1');
  }, 180_000);

  describe('the first admin key', () => {
    it('is written to DATA_DIR/admin.key, owner-only, and works on GET /v1/sites', () => {
      expect(boot.text).toMatch(/^tally_[0-9a-z]{10}_[A-Za-z0-9_-]{43}\n$/);
      expect(boot.stat.mode & 0o777).toBe(0o600);
      expect(boot.sites.status, boot.sites.text).toBe(200);
      expect(boot.sites.json).toEqual({ sites: [] });
      expect(boot.exit).toBe(0);
    });

    it('is announced in the log by where it is, never by its value', () => {
      expect(boot.output).toContain('created the first admin key');
      expect(boot.output).toContain(keyFile);
      expect(boot.output).not.toContain(boot.key);
      expect(boot.output).not.toContain(boot.key.slice(17)); // the secret alone
    });

    it('is not made again by a second start on the same data', async () => {
      expect(readFileSync(keyFile, 'utf8')).toBe(boot.text);
      const now = statSync(keyFile);
      expect([now.ino, now.mtimeMs, now.mode & 0o777]).toEqual([
        boot.stat.ino,
        boot.stat.mtimeMs,
        0o600,
      ]);
      expect(readdirSync(dataDir).filter((f) => f.startsWith('admin.key'))).toEqual(['admin.key']);
      expect(s.output()).not.toContain('created the first admin key');
      const r = await req('/v1/keys', { key: boot.key });
      expect(r.status, r.text).toBe(200);
      expect(r.json.keys).toEqual([
        {
          id: KEY.exec(boot.key)![1],
          scope: 'admin',
          sites: [],
          name: 'first admin key',
          created_at: expect.stringMatching(/Z$/),
          // The first start used it once; its last use is written when it shuts down.
          last_used_at: expect.stringMatching(/Z$/),
          revoked_at: null,
        },
      ]);
    });
  });

  describe('who may read and administer', () => {
    beforeAll(async () => {
      await admin.addSite({ site_id: A, name: 'A' });
      await admin.addSite({ site_id: B });
      await admin.addSite({ site_id: PUB, public_reports: true });
      keys.readA = (await addKey('read', [A])).key;
      keys.readB = (await addKey('read', [B])).key;
      keys.readAll = (await addKey('read')).key;
      keys.ingestAll = (await addKey('ingest')).key;
      const pv = (site: string, user: string, path: string) => ({
        type: 'page_view',
        site_id: site,
        user_id: user,
        path,
      });
      const r = await req('/v1/events', {
        method: 'POST',
        body: [pv(A, 'u1', '/a'), pv(A, 'u1', '/b'), pv(A, 'u2', '/a'), pv(PUB, 'u1', '/p')],
      });
      expect(r.status, r.text).toBe(202);
      await waitFor(
        async () =>
          (await admin.stats(A, DAY)).total_views === 3 &&
          (await admin.stats(PUB, DAY)).total_views === 1,
        20_000,
        { intervalMs: 200 },
      );
    });

    const reports = () => [
      `/v1/stats?site_id=${A}&date=${DAY}`,
      `/v1/stats/timeseries?site_id=${A}&from=${DAY}&to=${DAY}`,
      `/v1/ads/stats?from=${DAY}&to=${DAY}&interval=day`,
      '/v1/drops',
      '/v1/dead-letters',
    ];
    /** Seed report routes and the body each answers a request without a key with. */
    const seedReports = () =>
      [
        [`/api/reporting/stats?site_id=${A}`, { status: 'fail', message: NO_KEY }],
        [
          `/api/stats?siteId=${A}&date=${DAY}`,
          { statusCode: 401, message: NO_KEY, error: 'Unauthorized' },
        ],
        ['/api/queues/admin', { statusCode: 401, message: NO_KEY, error: 'Unauthorized' }],
        [`/stats?site_id=${A}`, { error: NO_KEY }],
      ] as const;
    const adminRoutes = (): [string, string, unknown?][] => [
      ['GET', '/v1/sites'],
      ['POST', '/v1/sites', { site_id: 'sec-intruder' }],
      ['GET', `/v1/sites/${A}`],
      ['PATCH', `/v1/sites/${A}`, { public_reports: true }],
      ['DELETE', `/v1/sites/${A}`],
      ['GET', '/v1/keys'],
      ['POST', '/v1/keys', { scope: 'admin' }],
      ['DELETE', `/v1/keys/${KEY.exec(boot.key)![1]}`],
      ['DELETE', '/v1/users/u1'],
      ['GET', '/v1/auth/failures'],
    ];

    it('no key: 401 on every report, seed report and admin route, and nothing changes', async () => {
      const ids = async () => (await admin.keys()).map((k) => [k.id, k.revoked_at]);
      const keysBefore = await ids();
      const noKey = { error: { code: 'UNAUTHORIZED', message: NO_KEY } };
      for (const path of reports()) {
        const r = await req(path);
        expect401(r, path);
        expect(r.json, path).toEqual(noKey);
      }
      for (const [path, body] of seedReports()) {
        const r = await req(path);
        expect401(r, path);
        expect(r.json, path).toEqual(body);
      }
      for (const [method, path, body] of adminRoutes()) {
        const r = await req(path, { method, body });
        expect401(r, `${method} ${path}`);
        expect(r.json, `${method} ${path}`).toEqual(noKey);
      }
      expect(await ids()).toEqual(keysBefore);
      const sites = (await req('/v1/sites', { key: boot.key })).json.sites;
      expect(sites.map((x: any) => [x.site_id, x.public_reports])).toEqual([
        [A, false],
        [B, false],
        [PUB, true],
      ]);
    });

    it('guards the HEAD twin of a GET route the same way, checking a key once', async () => {
      const before = await admin.failures();
      for (const path of [`/v1/stats?site_id=${A}&date=${DAY}`, '/v1/sites', '/v1/keys']) {
        expect401(await req(path, { method: 'HEAD' }), `HEAD ${path}`);
      }
      expect401(await req('/v1/sites', { method: 'HEAD', key: fakeKey() }), 'HEAD, bad key');
      const ok = await req(`/v1/stats?site_id=${A}&date=${DAY}`, {
        method: 'HEAD',
        key: keys.readA,
      });
      expect(ok.status).toBe(200);
      const after = await admin.failures();
      expect([after.missing - before.missing, after.unknown - before.unknown]).toEqual([3, 1]);
    });

    it('a key of the wrong scope: 403', async () => {
      const r = await req(`/v1/stats?site_id=${A}&date=${DAY}`, { key: keys.ingestAll });
      expect(r.status, r.text).toBe(403);
      expect(r.json).toEqual({
        error: { code: 'FORBIDDEN', message: "this key's scope is ingest; this needs read" },
      });
      for (const [method, path] of [
        ['GET', '/v1/drops'],
        ['GET', '/v1/dead-letters'],
        ['GET', '/v1/sites'],
        ['GET', '/v1/keys'],
        ['DELETE', '/v1/users/x'],
      ] as const) {
        const r = await req(path, { method, key: keys.readAll });
        expect(r.status, `${method} ${path}: ${r.text}`).toBe(403);
        expect(r.json.error).toEqual({
          code: 'FORBIDDEN',
          message: "this key's scope is read; this needs admin",
        });
      }
    });

    it("another site's read key: 403, on the API and the seed report routes", async () => {
      const msg = `this key is not for site "${A}"`;
      const api = await req(`/v1/stats?site_id=${A}&date=${DAY}`, { key: keys.readB });
      expect([api.status, api.json]).toEqual([403, { error: { code: 'FORBIDDEN', message: msg } }]);
      const s1 = await req(`/api/reporting/stats?site_id=${A}`, { key: keys.readB });
      expect([s1.status, s1.json]).toEqual([403, { status: 'fail', message: msg }]);
      const s3 = await req(`/api/stats?siteId=${A}&date=${DAY}`, { key: keys.readB });
      expect([s3.status, s3.json]).toEqual([
        403,
        { statusCode: 403, message: msg, error: 'Forbidden' },
      ]);
      const s4 = await req(`/stats?site_id=${A}`, { key: keys.readB });
      expect([s4.status, s4.json]).toEqual([403, { error: msg }]);
    });

    it("a read key for site A reads A's reports, seed reports included", async () => {
      const key = keys.readA;
      const stats = await req(`/v1/stats?site_id=${A}&date=${DAY}`, { key });
      expect(stats.status, stats.text).toBe(200);
      expect(stats.json).toMatchObject({ site_id: A, total_views: 3, unique_users: 2 });
      const series = await req(`/v1/stats/timeseries?site_id=${A}&from=${DAY}&to=${DAY}`, { key });
      expect(series.status, series.text).toBe(200);
      expect(series.json.buckets).toEqual([expect.objectContaining({ views: 3, events: 3 })]);
      const s1 = await req(`/api/reporting/stats?site_id=${A}`, { key });
      expect(s1.status, s1.text).toBe(200);
      expect(s1.json).toMatchObject({
        status: 'success',
        data: { site_id: A, date: 'all-time', total_views: 3, unique_users: 2 },
      });
      const s3 = await req(`/api/stats?siteId=${A}&date=${DAY}`, { key });
      expect(s3.status, s3.text).toBe(200);
      expect(s3.json).toMatchObject({ siteId: A, date: DAY, totalViews: 3, uniqueUsers: 2 });
      const s4 = await req(`/stats?site_id=${A}`, { key });
      expect(s4.status, s4.text).toBe(200);
      expect(s4.json).toMatchObject({ site_id: A, date: null, total_views: 3, unique_users: 2 });
    });

    it('ad stats need a key for every site', async () => {
      const path = `/v1/ads/stats?from=${DAY}&to=${DAY}&interval=day`;
      const limited = await req(path, { key: keys.readA });
      expect([limited.status, limited.json]).toEqual([
        403,
        {
          error: {
            code: 'FORBIDDEN',
            message: 'this key is limited to some sites; this needs a key for every site',
          },
        },
      ]);
      const all = await req(path, { key: keys.readAll });
      expect(all.status, all.text).toBe(200);
      expect(all.json).toEqual({
        interval: 'day',
        group_by: 'ad_id',
        from: DAY,
        to: DAY,
        rows: [],
      });
    });

    it('a revoked key: 401, at once', async () => {
      const k = await addKey('read', [A]);
      const path = `/v1/stats?site_id=${A}&date=${DAY}`;
      expect((await req(path, { key: k.key })).status).toBe(200);
      const del = await req(`/v1/keys/${k.id}`, { method: 'DELETE', key: boot.key });
      expect(del.status, del.text).toBe(204);
      const r = await req(path, { key: k.key });
      expect401(r, 'revoked');
      expect(r.json).toEqual({
        error: { code: 'UNAUTHORIZED', message: 'this API key was revoked' },
      });
      const listed = (await admin.keys()).find((x) => x.id === k.id);
      expect(listed.revoked_at).toMatch(/Z$/);
      const again = await req(`/v1/keys/${k.id}`, { method: 'DELETE', key: boot.key });
      expect([again.status, again.json.error.code]).toEqual([404, 'NOT_FOUND']);
    });

    it('a public site is readable without a key; a key presented must still be valid', async () => {
      const pub = await req(`/v1/stats?site_id=${PUB}&date=${DAY}`);
      expect(pub.status, pub.text).toBe(200);
      expect(pub.json).toMatchObject({ site_id: PUB, total_views: 1, unique_users: 1 });
      const seed = await req(`/stats?site_id=${PUB}`);
      expect([seed.status, seed.json.total_views]).toEqual([200, 1]);
      expect401(await req(`/v1/stats?site_id=${A}&date=${DAY}`), 'non-public site');
      const bad = await req(`/v1/stats?site_id=${PUB}&date=${DAY}`, { key: fakeKey() });
      expect401(bad, 'public site, bad key');
      expect(bad.json.error.message).toBe('this API key is not valid');
      // Public reports only: the site's pipeline and the admin routes stay closed.
      expect401(await req('/v1/drops'), 'drops');
      // Turning it off takes effect at once.
      const patch = await req(`/v1/sites/${PUB}`, {
        method: 'PATCH',
        key: boot.key,
        body: { public_reports: false },
      });
      expect([patch.status, patch.json.public_reports]).toEqual([200, false]);
      expect401(await req(`/v1/stats?site_id=${PUB}&date=${DAY}`), 'no longer public');
    });

    it("records a key's last use (written in batches about every 10 s)", async () => {
      const k = await addKey('read', [A]);
      const listed = async () => (await admin.keys()).find((x) => x.id === k.id);
      expect((await listed()).last_used_at).toBeNull();
      const used = Date.now();
      expect((await req(`/v1/stats?site_id=${A}&date=${DAY}`, { key: k.key })).status).toBe(200);
      let at: string | null = null;
      await waitFor(
        async () => {
          at = (await listed()).last_used_at;
          return at !== null;
        },
        15_000,
        { intervalMs: 500 },
      );
      const ms = Date.parse(at!);
      expect(ms).toBeGreaterThanOrEqual(used - 1000);
      expect(ms).toBeLessThanOrEqual(Date.now());
    }, 30_000);
  });

  describe('failed keys', () => {
    it('AUTH_MAX_FAILURES bad keys from one address, then 429 even with a valid key', async () => {
      // The throttle counts per wall-clock minute: start early in one.
      const into = Date.now() % 60_000;
      if (into > 45_000) {
        await sleep(60_000 - into + 200);
      }
      const before = await admin.failures();
      const attacker = '10.250.0.1';
      for (let i = 0; i < 5; i++) {
        const r = await req(`/v1/stats?site_id=${A}&date=${DAY}`, {
          key: fakeKey(),
          from: attacker,
        });
        expect401(r, `attempt ${i + 1}`);
      }
      for (const r of [
        await req(`/v1/stats?site_id=${A}&date=${DAY}`, { key: keys.readAll, from: attacker }),
        await req('/v1/sites', { key: boot.key, from: attacker }),
      ]) {
        expect(r.status, r.text).toBe(429);
        const wait = Number(r.headers['retry-after']);
        expect(wait).toBeGreaterThanOrEqual(1);
        expect(wait).toBeLessThanOrEqual(60);
        expect(r.json.error.code).toBe('TOO_MANY_AUTH_FAILURES');
      }
      const other = await req(`/v1/stats?site_id=${A}&date=${DAY}`, {
        key: keys.readAll,
        from: '10.250.0.2',
      });
      expect(other.status, other.text).toBe(200);
      const after = await admin.failures();
      expect({
        enforced: after.enforced,
        unknown: after.unknown - before.unknown,
        throttled: after.throttled - before.throttled,
        missing: after.missing - before.missing,
        malformed: after.malformed - before.malformed,
      }).toEqual({ enforced: true, unknown: 5, throttled: 2, missing: 0, malformed: 0 });
    }, 90_000);

    it('a fuzzed Authorization header never gets a 5xx: always 401, and the server goes on', async () => {
      const values = fuzzedHeaders(boot.key);
      const before = await admin.failures();
      const paths = [
        `/v1/stats?site_id=${A}&date=${DAY}`,
        '/v1/sites',
        `/api/stats?siteId=${A}&date=${DAY}`,
        '/v1/events',
      ];
      const statuses = new Map<number, number>();
      for (let i = 0; i < values.length; i += 8) {
        await Promise.all(
          values.slice(i, i + 8).map(async (value, j) => {
            secrets.add(value);
            const path = paths[(i + j) % paths.length]!;
            const r = await call(s.url, path, {
              from: address(),
              headers: { authorization: value },
              ...(path === '/v1/events'
                ? { method: 'POST', body: { type: 'page_view', site_id: 'sec-fuzz' } }
                : {}),
            });
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            if (r.status !== 401) {
              throw new Error(
                `${path} with ${JSON.stringify(value.slice(0, 80))}: ${r.status} ${r.text}`,
              );
            }
            expect(r.headers['www-authenticate']).toBe('Bearer realm="tally"');
          }),
        );
      }
      expect(Object.fromEntries(statuses)).toEqual({ 401: values.length });
      const after = await admin.failures();
      const refused = (['missing', 'malformed', 'unknown', 'revoked'] as const).reduce(
        (n, k) => n + after[k] - before[k],
        0,
      );
      expect([refused, after.throttled - before.throttled]).toEqual([values.length, 0]);
      expect((await call(s.url, '/ready')).status).toBe(200);
      expect((await req('/v1/sites', { key: boot.key })).status).toBe(200);
    }, 120_000);
  });

  describe('bad admin input', () => {
    const post = (path: string, body: unknown) =>
      req(path, { method: 'POST', key: boot.key, body });

    it('400 naming the field: a bad origin entry, a bad scope, a site id too long', async () => {
      const origin = await post('/v1/sites', {
        site_id: 'sec-bad-origin',
        origins: ['https://ok.example', 'https://bad.example/path'],
      });
      expect(origin.status, origin.text).toBe(400);
      expect(origin.json.error).toMatchObject({
        code: 'INVALID_PARAMETER',
        details: [{ field: 'origins[1]', message: expect.stringMatching(/^must be an origin/) }],
      });
      expect((await req('/v1/sites/sec-bad-origin', { key: boot.key })).status).toBe(404);
      const scope = await post('/v1/keys', { scope: 'superuser' });
      expect([scope.status, scope.json.error.details]).toEqual([
        400,
        [{ field: 'scope', message: 'must be one of: read, ingest, admin' }],
      ]);
      const long = await post('/v1/sites', { site_id: 'x'.repeat(129) });
      expect([long.status, long.json.error.details]).toEqual([
        400,
        [{ field: 'site_id', message: 'must be a string of 1 to 128 characters' }],
      ]);
    });

    it('409 for a site registered already, 404 for an unknown site or key', async () => {
      const dup = await post('/v1/sites', { site_id: A });
      expect([dup.status, dup.json]).toEqual([
        409,
        { error: { code: 'CONFLICT', message: `site "${A}" is registered already` } },
      ]);
      const notFound = { error: { code: 'NOT_FOUND', message: 'no site "sec-nope"' } };
      for (const method of ['GET', 'PATCH', 'DELETE']) {
        const r = await req('/v1/sites/sec-nope', {
          method,
          key: boot.key,
          ...(method === 'PATCH' ? { body: { name: 'n' } } : {}),
        });
        expect([r.status, r.json], method).toEqual([404, notFound]);
      }
      const key = await req('/v1/keys/nokey12345', { method: 'DELETE', key: boot.key });
      expect([key.status, key.json]).toEqual([
        404,
        { error: { code: 'NOT_FOUND', message: 'no active key "nokey12345"' } },
      ]);
    });
  });

  // Last: after everything above, with LOG_LEVEL=debug.
  it('never logs a key, a presented header or an Authorization value', () => {
    const logs = `${boot.output}\n${s.output()}`;
    // Both processes' output was captured (at debug, per-request lines are still off).
    expect(logs.match(/"msg":"tally serve is running"/g)).toHaveLength(2);
    const leaked = [...secrets].flatMap(needles).filter((n) => logs.includes(n));
    expect(leaked).toEqual([]);
    expect(logs).not.toMatch(/"authorization"\s*:\s*"(?!\[Redacted\])/i);
  });
});

describe('AUTH=off', () => {
  let s: Child;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = newDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    s = await startChild({ AUTH: 'off', DATA_DIR: dataDir, TRUSTED_PROXIES: '127.0.0.1' });
    children.push(s);
  }, 120_000);

  it('needs no key on reports and admin routes, and writes no admin key', async () => {
    const req = (path: string, opts: CallOptions = {}) =>
      call(s.url, path, { from: address(), ...opts });
    for (const path of [
      `/v1/stats?site_id=off&date=${DAY}`,
      `/v1/stats/timeseries?site_id=off&from=${DAY}&to=${DAY}`,
      `/v1/ads/stats?from=${DAY}&to=${DAY}&interval=day`,
      '/v1/drops',
      '/v1/dead-letters',
      '/v1/sites',
      '/v1/keys',
      `/stats?site_id=off`,
    ]) {
      const r = await req(path);
      expect(r.status, `${path}: ${r.text}`).toBe(200);
    }
    // The seeds' "no data" answers, not a refusal.
    expect((await req('/api/reporting/stats?site_id=off')).status).toBe(404);
    expect((await req(`/api/stats?siteId=off&date=${DAY}`)).status).toBe(404);
    expect((await req('/v1/auth/failures')).json).toEqual({ enforced: false, throttled: 0 });
    const site = await req('/v1/sites', {
      method: 'POST',
      body: { site_id: 'off-a', origins: ['https://ok.example'], ingest_key_required: true },
    });
    expect(site.status, site.text).toBe(201);
    const del = await req('/v1/users/u1', { method: 'DELETE' });
    expect([del.status, del.json]).toEqual([
      200,
      { user_id: 'u1', site_id: null, deleted: { unique_user_rows: 0, dead_letters: 0 } },
    ]);
    expect(existsSync(join(dataDir, 'admin.key'))).toBe(false);
  });

  it("still applies a registered site's origins, but asks no ingest key", async () => {
    const event = { type: 'page_view', site_id: 'off-a', path: '/' };
    const evil = await call(s.url, '/v1/events', {
      method: 'POST',
      body: event,
      headers: { origin: 'https://evil.example' },
    });
    expect([evil.status, evil.json.error.code]).toEqual([403, 'FORBIDDEN']);
    const good = await call(s.url, '/v1/events', {
      method: 'POST',
      body: event,
      headers: { origin: 'https://ok.example' },
    });
    expect([good.status, good.json.accepted]).toEqual([202, 1]);
    const serverSide = await call(s.url, '/v1/events', { method: 'POST', body: event });
    expect([serverSide.status, serverSide.json.accepted]).toEqual([202, 1]);
  });
});

describe.skipIf(!pgUp)('erasing a user, on PostgreSQL', () => {
  const A = 'del-a';
  const B = 'del-b';
  const ADMIN_KEY = fakeKey();
  let s: Child;
  let dbUrl: string;
  let dataDir: string;
  let admin: Admin;
  beforeAll(async () => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    dbUrl = db.url;
    dataDir = newDataDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    s = await startChild({
      AUTH: 'on',
      ADMIN_KEY,
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      TRUSTED_PROXIES: '127.0.0.1',
    });
    children.push(s);
    admin = adminOf(s.url, ADMIN_KEY, '10.201.0.1');
  }, 120_000);

  it('ADMIN_KEY registers the provisioned key; no key file is written, the key is not logged', async () => {
    const keys = await admin.keys();
    expect(keys.map((k) => [k.id, k.scope, k.sites, k.name])).toEqual([
      [KEY.exec(ADMIN_KEY)![1], 'admin', [], 'ADMIN_KEY'],
    ]);
    expect(existsSync(join(dataDir, 'admin.key'))).toBe(false);
    expect(s.output()).toContain('registered ADMIN_KEY as an admin key');
    expect(s.output()).not.toContain(ADMIN_KEY.slice(17));
  });

  it("DELETE /v1/users/:id removes the user's unique-user rows and dead letters, per site or all", async () => {
    const pv = (site: string, user: string, path: string) => ({
      type: 'page_view',
      site_id: site,
      user_id: user,
      path,
    });
    const sent = await call(s.url, '/v1/events', {
      method: 'POST',
      from: address(),
      body: [
        pv(A, 'u1', '/1'),
        pv(A, 'u1', '/2'),
        pv(A, 'u2', '/1'),
        pv(B, 'u1', '/1'),
        pv(B, 'u2', '/1'),
      ],
    });
    expect(sent.status, sent.text).toBe(202);
    const both = async () => {
      const [a, b] = [await admin.stats(A, DAY), await admin.stats(B, DAY)];
      return [a.total_views, a.unique_users, b.total_views, b.unique_users];
    };
    await waitFor(async () => (await both()).join() === '3,2,2,2', 20_000, { intervalMs: 200 });

    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const dead = (site: string, user: string) =>
        JSON.stringify({
          event_id: `dl-${site}-${user}`,
          type: 'page_view',
          site_id: site,
          user_id: user,
        });
      await client.query(
        `INSERT INTO dead_letters (event_id, reason, payload) VALUES
           ('dl-a-u1', 'test', $1), ('dl-b-u1', 'test', $2), ('dl-a-u2', 'test', $3)`,
        [dead(A, 'u1'), dead(B, 'u1'), dead(A, 'u2')],
      );
      const readKey = (await admin.addKey('read')).key;
      const denied = await call(s.url, `/v1/users/u1?site_id=${A}`, {
        method: 'DELETE',
        key: readKey,
        from: address(),
      });
      expect(denied.status, denied.text).toBe(403);
      expect(await both()).toEqual([3, 2, 2, 2]);

      const erase = (query: string) =>
        call(s.url, `/v1/users/u1${query}`, { method: 'DELETE', key: ADMIN_KEY, from: address() });
      const one = await erase(`?site_id=${A}`);
      expect([one.status, one.json]).toEqual([
        200,
        { user_id: 'u1', site_id: A, deleted: { unique_user_rows: 1, dead_letters: 1 } },
      ]);
      expect(await both()).toEqual([3, 1, 2, 2]);

      const all = await erase('');
      expect([all.status, all.json]).toEqual([
        200,
        { user_id: 'u1', site_id: null, deleted: { unique_user_rows: 1, dead_letters: 1 } },
      ]);
      expect(await both()).toEqual([3, 1, 2, 1]);
      const left = await client.query<{ event_id: string }>(
        'SELECT event_id FROM dead_letters ORDER BY event_id',
      );
      expect(left.rows.map((r) => r.event_id)).toEqual(['dl-a-u2']);
    } finally {
      await client.end();
    }
  }, 60_000);
});

/**
 * A few hundred Authorization values: random header bytes (HTAB, visible ASCII and obs-text,
 * as latin1) of lengths up to ~8 KiB, `Bearer ` + junk, well-formed keys with wrong secrets
 * (the real admin key's id among them), UTF-8 sent as latin1, and the edge cases.
 */
function fuzzedHeaders(realKey: string): string[] {
  const allowed = [
    9,
    ...Array.from({ length: 95 }, (_, i) => 32 + i),
    ...Array.from({ length: 128 }, (_, i) => 128 + i),
  ];
  const bytes = (n: number) =>
    Array.from(randomBytes(n), (b) => String.fromCharCode(allowed[b % allowed.length]!)).join('');
  const length = () => Math.max(1, Math.floor(Math.exp(Math.random() * Math.log(8000))));
  const id = KEY.exec(realKey)![1]!;
  const secret = realKey.slice(17);
  const flipped = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
  const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  const unicode = ['clé', '秘密', '🔑', 'ключ', 'Ω≈ç√∫', '\u200b', 'é'.repeat(300)];
  const values = [
    '',
    ' ',
    '\t',
    'Bearer',
    'Bearer ',
    'bearer',
    'Basic dXNlcjpwYXNz',
    'Bearer a b',
    'Bearer tally_',
    'tally_',
    realKey, // no scheme
    `Token ${realKey}`,
    `Bearer ${realKey}x`,
    `Bearer ${realKey}=`,
    `Bearer ${realKey.toUpperCase()}`,
    `Bearer ${realKey} extra`,
    `Bearer tally_${id}_${flipped}`,
    `Bearer tally_${id}_`,
    `Bearer ${'A'.repeat(8000)}`,
    `Bearer ${'tally_'.repeat(1300)}`,
  ];
  for (let i = 0; i < 80; i++) {
    values.push(bytes(length()));
  }
  for (let i = 0; i < 60; i++) {
    values.push(`Bearer ${bytes(length())}`);
  }
  for (let i = 0; i < 60; i++) {
    values.push(
      `Bearer ${i % 3 === 0 ? `tally_${id}_${randomBytes(32).toString('base64url')}` : fakeKey()}`,
    );
  }
  for (let i = 0; i < 40; i++) {
    const u = unicode[i % unicode.length]!;
    values.push(latin1(i % 2 === 0 ? `Bearer ${u}${randomBytes(8).toString('hex')}` : `${u} ${u}`));
  }
  for (let i = 0; i < 60; i++) {
    // Around the 200-character cut-off of a plausible token.
    values.push(
      `Bearer ${randomBytes(150 + i * 2)
        .toString('base64url')
        .slice(0, 150 + i * 2)}`,
    );
  }
  return values;
}

/**
 * What of a secret would show in a JSON log line if it were logged: its runs of at least 12
 * printable ASCII characters that JSON writes as they are (a shorter run could be in a log by
 * chance; bytes above 0x7f are left out, as the output is decoded chunk by chunk).
 */
function needles(secret: string): string[] {
  return secret.split(/[^\x20-\x7e]|["\\]/).filter((p) => p.trim().length >= 12);
}
