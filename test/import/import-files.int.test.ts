/**
 * `tally import` from NDJSON, CSV and standard input, through the real command in a child
 * process, into a real PostgreSQL server (and once into the embedded database): counts compared
 * with a recount of the generated data; a re-run and a resume after kill -9 count once.
 * Needs PostgreSQL on 127.0.0.1:5432; under CI=true it must be there.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDb } from '../../src/storage/pg-db.js';
import type { Db } from '../../src/storage/db.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { requireService } from '../helpers/services.js';
import { get, newDataDir, startServer, waitFor } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const runs = requireService(
  'PostgreSQL',
  await pgAvailable(),
  'bash scripts/services.sh up starts it',
);

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tally(args: string[], env: Record<string, string>, stdin?: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main/cli.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (stdin !== undefined) {
    proc.stdin.end(stdin);
  } else {
    proc.stdin.end();
  }
  const done = new Promise<Done>((resolve) =>
    proc.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { proc, done };
}

const DAY = 86_400_000;
const START = Date.UTC(2025, 2, 1);

/** Events over several sites, days and users, some ids repeated; a recount of them. */
function history(n: number, site: string) {
  const events: Record<string, unknown>[] = [];
  const views = new Map<string, number>();
  const users = new Map<string, Set<string>>();
  for (let i = 0; i < n; i++) {
    const day = i % 9;
    const ts = START + day * DAY + (i % 86_400) * 1000;
    const s = `${site}-${i % 3}`;
    const user = `u${i % 37}`;
    events.push({
      event_id: `${site}-e${i}`,
      type: 'page_view',
      site_id: s,
      path: `/p${i % 5}`,
      user_id: user,
      ts: new Date(ts).toISOString(),
    });
    const k = `${s}|${new Date(ts).toISOString().slice(0, 10)}`;
    views.set(k, (views.get(k) ?? 0) + 1);
    if (!users.has(k)) {
      users.set(k, new Set());
    }
    users.get(k)!.add(user);
  }
  return { events, views, users };
}

async function counted(db: Db, site: string) {
  const v = await db.query<{ k: string; views: string }>(
    "SELECT site_id || '|' || to_char(day, 'YYYY-MM-DD') AS k, views FROM site_daily WHERE site_id LIKE $1 ORDER BY 1",
    [`${site}-%`],
  );
  const u = await db.query<{ k: string; n: string }>(
    "SELECT site_id || '|' || to_char(day, 'YYYY-MM-DD') AS k, count(*) AS n FROM site_daily_users WHERE site_id LIKE $1 GROUP BY 1 ORDER BY 1",
    [`${site}-%`],
  );
  return {
    views: Object.fromEntries(v.rows.map((r) => [r.k, Number(r.views)])),
    users: Object.fromEntries(u.rows.map((r) => [r.k, Number(r.n)])),
  };
}

const expected = (h: ReturnType<typeof history>) => ({
  views: Object.fromEntries([...h.views].sort()),
  users: Object.fromEntries([...h.users].map(([k, s]) => [k, s.size] as const).sort()),
});

describe.skipIf(!runs)('tally import', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Db;
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = createPgDb({ url: database.url, poolSize: 2 });
    dir = mkdtempSync(join(tmpdir(), 'tally-import-'));
    env = { DATABASE_URL: database.url, DATA_DIR: join(dir, 'data') };
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('NDJSON: counts exactly, refuses bad lines per reason with their line, and a re-run counts nothing again', async () => {
    const h = history(3000, 'nd');
    const lines = h.events.map((e) => JSON.stringify(e));
    // Bad lines, each refused with its line number; a repeated id counts once.
    lines.splice(10, 0, '{"type":"page_view","site_id":"nd-0","ts":"1970-01-01T00:00:00Z"}');
    lines.splice(20, 0, 'not json');
    lines.splice(30, 0, '{"type":"Page View","site_id":"nd-0"}');
    lines.push(lines[0]!);
    const file = join(dir, 'history.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);

    const first = await tally(['import', file, '--batch', '500'], env).done;
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('3,004 records read');
    expect(first.stdout).toContain('3,000 counted');
    expect(first.stdout).toContain('invalid json: 1, invalid type: 1, too_old: 1');
    expect(first.stdout).toContain('refused line 11: too_old: ts is before 2000-01-01');
    expect(first.stdout).toContain('refused line 21: invalid json');
    expect(first.stdout).toContain('refused line 31: invalid type');
    expect(await counted(db, 'nd')).toEqual(expected(h));

    const again = await tally(['import', file], env).done;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('0 records read');
    expect(await counted(db, 'nd')).toEqual(expected(h));
  });

  it('CSV with a header, quoted cells and props columns; --strict stops at the first refusal', async () => {
    const rows = [
      'event_id,type,site_id,path,user_id,ts,props.plan',
      'c1,page_view,csv-0,/a,u1,2024-11-14T10:00:00Z,pro',
      'c2,signup,csv-0,"/a,b",u2,2024-11-14T11:00:00Z,"free, for now"',
      'c3,page_view,csv-0,/a,u1,1731582000000,',
      'c4,page_view,csv-0,/b,,2024-11-15T00:00:00+01:00,',
    ];
    const file = join(dir, 'events.csv');
    writeFileSync(file, `${rows.join('\r\n')}\r\n`);
    const r = await tally(['import', file], env).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('4 records read');
    const v = await db.query<{ day: string; views: string; events: string }>(
      "SELECT to_char(day, 'YYYY-MM-DD') AS day, views, events FROM site_daily WHERE site_id = 'csv-0' ORDER BY day",
    );
    // c4 is 2024-11-14T23:00Z in UTC.
    expect(v.rows).toEqual([{ day: '2024-11-14', views: '3', events: '4' }]);
    const paths = await db.query<{ path: string; events: string }>(
      "SELECT path, events FROM site_daily_type_paths WHERE site_id = 'csv-0' AND type = 'signup'",
    );
    expect(paths.rows).toEqual([{ path: '/a,b', events: '1' }]);

    const bad = join(dir, 'bad.csv');
    writeFileSync(
      bad,
      'type,site_id,ts\npage_view,strict-0,2024-01-01T00:00:00Z\npage_view,strict-0,yesterday\npage_view,strict-0,2024-01-02T00:00:00Z\n',
    );
    const s = await tally(['import', bad, '--strict'], env).done;
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('line 3: invalid ts');
    const strict = await db.query<{ views: string }>(
      "SELECT SUM(views)::int8 AS views FROM site_daily WHERE site_id = 'strict-0'",
    );
    expect(strict.rows[0]!.views).toBe('1');
  });

  it('standard input needs --name; the same name given other data is refused', async () => {
    const h = history(200, 'in');
    const text = `${h.events.map((e) => JSON.stringify(e)).join('\n')}\n`;
    const nameless = await tally(['import', '-'], env, text).done;
    expect(nameless.code).toBe(2);
    expect(nameless.stderr).toContain('give --name');
    const r = await tally(['import', '-', '--name', 'stdin-1'], env, text).done;
    expect(r.code, r.stderr).toBe(0);
    expect(await counted(db, 'in')).toEqual(expected(h));
    const other = await tally(['import', '-', '--name', 'stdin-1'], env, '{"type":"x"}\n').done;
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('was used for other data');
  });

  it('killed with kill -9 midway, then run again: every record counted exactly once', async () => {
    const h = history(60_000, 'kill');
    const file = join(dir, 'big.ndjson');
    writeFileSync(file, `${h.events.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const run = tally(['import', file, '--batch', '500', '--quiet'], env);
    await waitFor(async () => {
      const r = await db.query<{ position: string | null }>(
        'SELECT position FROM imports WHERE name = $1',
        [`file:${file}`],
      );
      return Number(r.rows[0]?.position ?? 0) >= 5_000;
    }, 60_000);
    run.proc.kill('SIGKILL');
    await run.done;
    const mid = await db.query<{ position: string; finished_at: unknown }>(
      'SELECT position, finished_at FROM imports WHERE name = $1',
      [`file:${file}`],
    );
    expect(mid.rows[0]!.finished_at).toBeNull();
    expect(Number(mid.rows[0]!.position)).toBeLessThan(60_000);

    const resumed = await tally(['import', file], env).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('(resumed)');
    expect(resumed.stdout).toContain('in all 60,000 records, 60,000 counted');
    expect(await counted(db, 'kill')).toEqual(expected(h));
  });

  it("--fields seed-003: records in a seed's own field names, mapped as its route maps them", async () => {
    const file = join(dir, 'seed-003.ndjson');
    const rows = [
      {
        siteId: 'f003',
        eventType: 'Page View',
        path: '/',
        visitorId: 'v1',
        timestamp: '2024-11-14T10:00:00Z',
      },
      {
        siteId: 'f003',
        eventType: 'signup',
        path: '/join',
        visitorId: 'v2',
        timestamp: '2024-11-14T11:00:00Z',
      },
      {
        siteId: 'f003',
        eventType: 'click',
        path: '/',
        visitorId: 'v1',
        timestamp: '2024-11-14T12:00:00Z',
      },
      { eventType: 'page_view', path: '/' },
    ];
    writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const r = await tally(['import', file, '--fields', 'seed-003'], env).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('3 counted');
    expect(r.stdout).toMatch(/refused line 4: .*siteId/);
    const types = await db.query<{ type: string; events: string }>(
      "SELECT type, events FROM site_daily_types WHERE site_id = 'f003' AND day = '2024-11-14' ORDER BY type",
    );
    expect(types.rows).toEqual([
      { type: 'page_view', events: '1' },
      { type: 'signup', events: '1' },
      { type: 'site_click', events: '1' },
    ]);
  });

  it(
    'streams: a file ten times larger imports within the same heap, at about the same peak memory',
    { timeout: 60_000 },
    async () => {
      const peak = async (n: number) => {
        const file = join(dir, `mem-${n}.ndjson`);
        const out = createWriteStream(file);
        for (let i = 0; i < n; i++) {
          out.write(
            `${JSON.stringify({ type: 'page_view', site_id: `mem${n}`, path: `/p${i % 50}`, user_id: `u${i % 999}`, ts: START + (i % 1000) * 60_000 })}\n`,
          );
        }
        await new Promise((r) => out.end(r));
        // A fixed heap limit: V8 otherwise grows its heap lazily, with or without a leak. A file
        // that did not stream would run out of it; one that streams stays within it.
        const run = tally(['import', file, '--quiet', '--no-dedup'], {
          ...env,
          NODE_OPTIONS: '--max-old-space-size=128',
        });
        let max = 0;
        const timer = setInterval(() => {
          try {
            const m = /VmRSS:\s+(\d+) kB/.exec(
              readFileSync(`/proc/${run.proc.pid}/status`, 'utf8'),
            );
            max = Math.max(max, Number(m?.[1] ?? 0) / 1024);
          } catch {
            // exited
          }
        }, 20);
        const done = await run.done;
        clearInterval(timer);
        expect(done.code, done.stderr).toBe(0);
        return max;
      };
      // Both span several batches (two are held at once: one applied while the next is read).
      const small = await peak(60_000);
      const large = await peak(600_000);
      expect(small).toBeGreaterThan(0);
      expect(large).toBeLessThan(small * 1.3);
    },
  );

  it('into the embedded database, refused while a server holds it', async () => {
    const dataDir = newDataDir();
    try {
      const h = history(500, 'emb');
      const file = join(dir, 'embedded.ndjson');
      writeFileSync(file, `${h.events.map((e) => JSON.stringify(e)).join('\n')}\n`);
      const s = await startServer({}, dataDir);
      const busy = await tally(['import', file], { DATA_DIR: dataDir }).done;
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain('stop the server first');
      await s.close({ keepData: true });

      const r = await tally(['import', file], { DATA_DIR: dataDir }).done;
      expect(r.code, r.stderr).toBe(0);
      const s2 = await startServer({}, dataDir);
      try {
        const stats = await get(`${s2.url}/v1/stats?site_id=emb-0&from=2025-03-01&to=2025-03-09`);
        const views = [...h.views]
          .filter(([k]) => k.startsWith('emb-0|'))
          .reduce((a, [, n]) => a + n, 0);
        expect(stats.body.total_views).toBe(views);
      } finally {
        await s2.close({ keepData: true });
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
