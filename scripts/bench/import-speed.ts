/**
 * `tally import` beside COPY, in the same run: an NDJSON file of page views is generated under
 * os.tmpdir(), imported by the real command (a child process) into a fresh PostgreSQL database
 * and into a fresh embedded data directory, with the default options and with --no-dedup, and
 * the same rows are COPYed into a keyed table on the same server. Each import's counts are
 * compared with a recount of the generated data: a mismatch fails the run.
 */
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uuidv7 } from '../../src/events/uuidv7.js';
import type { Db } from '../../src/storage/db.js';
import { createPgDb } from '../../src/storage/pg-db.js';
import { createPgliteDb } from '../../src/storage/pglite-db.js';
import { createDatabase, throwawayName } from '../../test/harness/databases.js';
import { spawnTally, stopChild } from '../../test/harness/spawn.js';
import { copyRows } from './copy-baseline.js';
import type { BenchOptions } from './options.js';
import { fmtInt, type Progress } from './progress.js';
import { SERVICES, ensureServices } from './services.js';
import type { ImportRunResult, ImportSpeedResult } from './types.js';
import { prng } from '../demo/traffic.js';

const DAY_MS = 86_400_000;
const SITES = 20;
const PATHS = 500;
const USERS = 5000;
const DAYS = 30;

/** What the generated file should count to: views and distinct users per (site, UTC day). */
interface Recount {
  events: number;
  views: Map<string, number>;
  users: Map<string, Set<number>>;
}

export async function runImportSpeed(
  opts: BenchOptions,
  tag: string,
  progress: Progress,
): Promise<ImportSpeedResult> {
  await ensureServices({ postgres: true });
  const dir = mkdtempSync(join(tmpdir(), `tally-bench-${tag}-`));
  const out: ImportSpeedResult = {
    events: opts.importEvents,
    fileMiB: 0,
    imports: [],
    exact: true,
  };
  try {
    const file = join(dir, 'pageviews.ndjson');
    progress.update(`[import] generating ${fmtInt(opts.importEvents)} page views`);
    const { recount, copyLines } = await generate(file, opts.importEvents);
    if (opts.injectFault) {
      // Self-test: the recount forgets one unique user, so every import's check must fail.
      const [, users] = [...recount.users].find(([, u]) => u.size > 1)!;
      users.delete(users.values().next().value!);
    }
    out.fileMiB = Math.round((statSync(file).size / 2 ** 20) * 10) / 10;
    progress.log(
      `[import] ${fmtInt(recount.events)} page views (${SITES} sites, ${PATHS} paths, ${USERS} users, ${DAYS} days) in ${file}: ${out.fileMiB} MiB`,
    );

    progress.update(`[import] COPY of the same ${fmtInt(copyLines.length)} rows`);
    const copy = await copyRows(copyLines, `${tag}_impcopy`, {
      db: 'copy',
      ddl: 'CREATE TABLE copy_events (event_id text PRIMARY KEY, site_id text NOT NULL, day date NOT NULL, path text NOT NULL, user_id text NOT NULL)',
      copy: 'COPY copy_events (event_id, site_id, day, path, user_id) FROM STDIN',
    });
    copyLines.length = 0;
    out.copy = {
      rows: copy.rows,
      seconds: Math.round(copy.seconds * 100) / 100,
      rowsPerS: Math.round(copy.rowsPerS),
    };
    progress.log(
      `[import] COPY (event_id, site_id, day, path, user_id) into a keyed table: ${fmtInt(out.copy.rowsPerS)} rows/s (${out.copy.seconds} s)`,
    );

    let n = 0;
    for (const target of ['postgres', 'embedded'] as const) {
      for (const dedup of [true, false]) {
        const r = await runOne(file, recount, target, dedup, `${tag}_imp${n++}`, dir, progress);
        out.imports.push(r);
        out.exact &&= r.exact;
      }
    }
  } catch (err) {
    out.exact = false;
    out.error = (err as Error).message;
    progress.log(`[import] FAILED: ${out.error}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function runOne(
  file: string,
  recount: Recount,
  target: 'postgres' | 'embedded',
  dedup: boolean,
  tag: string,
  dir: string,
  progress: Progress,
): Promise<ImportRunResult> {
  const label = `[import → ${target}${dedup ? '' : ', --no-dedup'}]`;
  const result: ImportRunResult = {
    target,
    dedup,
    records: 0,
    counted: 0,
    seconds: 0,
    eventsPerS: 0,
    wallS: 0,
    exact: false,
  };
  const dataDir = join(dir, tag);
  mkdirSync(dataDir, { recursive: true });
  const database =
    target === 'postgres'
      ? await createDatabase(SERVICES.pgAdminUrl, throwawayName('bench', tag))
      : undefined;
  const url = database?.url ?? '';
  // Explicit defaults, so a DATABASE_URL or TRANSPORT in the caller's environment does not leak in.
  const env = { DATA_DIR: dataDir, DATABASE_URL: url, TRANSPORT: 'embedded', LOG_LEVEL: 'warn' };
  try {
    // Created and migrated first, so the import's own time (its summary line) is the import's.
    const migrate = spawnTally(['migrate'], { env, keepChars: 4000 });
    if ((await migrate.exited) !== 0) {
      throw new Error(`tally migrate failed:\n${migrate.output()}`);
    }
    progress.update(`${label} importing ${fmtInt(recount.events)} page views`);
    const t0 = performance.now();
    const child = spawnTally(['import', file, '--quiet', ...(dedup ? [] : ['--no-dedup'])], {
      env,
      keepChars: 4000,
    });
    let stdout = '';
    child.proc.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    const timer = setTimeout(() => void stopChild(child, 5000), 30 * 60_000);
    const code = await child.exited.finally(() => clearTimeout(timer));
    result.wallS = Math.round((performance.now() - t0) / 100) / 10;
    if (code !== 0) {
      throw new Error(`tally import exited ${code}:\n${child.output()}`);
    }
    const m =
      /import ".*": ([\d,]+) records read in ([\d.]+) s \(([\d,]+)\/s\), ([\d,]+) counted/.exec(
        stdout,
      );
    if (!m) {
      throw new Error(`no summary line from tally import:\n${child.output()}`);
    }
    const int = (s: string) => Number(s.replace(/,/g, ''));
    result.records = int(m[1]!);
    result.seconds = Number(m[2]);
    result.eventsPerS = int(m[3]!);
    result.counted = int(m[4]!);
    const errors = [
      ...(result.records !== recount.events
        ? [`read ${result.records} records of ${recount.events}`]
        : []),
      ...(result.counted !== recount.events
        ? [`counted ${result.counted} of ${recount.events}`]
        : []),
      ...(await checkCounts(target, url, dataDir, recount, (rows) => (result.tableRows = rows))),
    ];
    result.exact = errors.length === 0;
    if (!result.exact) {
      result.error = errors.join('; ');
    }
    progress.log(
      `${label} ${fmtInt(result.eventsPerS)} events/s (${result.seconds} s by its summary line, ${result.wallS} s as a process), ` +
        `rows ${Object.entries(result.tableRows ?? {})
          .map(([t, v]) => `${t} ${fmtInt(v)}`)
          .join(', ')}, ` +
        (result.exact ? 'counts exact' : `NOT EXACT: ${result.error}`),
    );
  } catch (err) {
    result.exact = false;
    result.error = (err as Error).message;
    progress.log(`${label} FAILED: ${result.error}`);
  } finally {
    await database?.drop().catch((err: unknown) => {
      progress.log(`bench: could not drop database ${database.name}: ${(err as Error).message}`);
    });
    rmSync(dataDir, { recursive: true, force: true });
  }
  return result;
}

/** The rollups against the recount: total views, views and unique users per (site, day). */
async function checkCounts(
  target: 'postgres' | 'embedded',
  url: string,
  dataDir: string,
  recount: Recount,
  onRows: (rows: Record<string, number>) => void,
): Promise<string[]> {
  const db: Db =
    target === 'postgres'
      ? createPgDb({ url, poolSize: 1 })
      : await createPgliteDb({ dataDir: join(dataDir, 'pg') });
  try {
    const errors: string[] = [];
    const views = await db.query<{ site_id: string; day: string; views: string | number }>(
      "SELECT site_id, to_char(day, 'YYYY-MM-DD') AS day, views FROM site_daily",
    );
    const total = views.rows.reduce((a, r) => a + Number(r.views), 0);
    if (total !== recount.events) {
      errors.push(`sum of site_daily.views is ${total}, not ${recount.events}`);
    }
    const got = new Map(views.rows.map((r) => [`${r.site_id}|${r.day}`, Number(r.views)]));
    const wrongViews = [...recount.views].filter(([k, v]) => got.get(k) !== v).length;
    if (wrongViews > 0 || got.size !== recount.views.size) {
      errors.push(
        `site_daily: ${wrongViews} (site, day) rows differ from the recount (${got.size} rows, ${recount.views.size} expected)`,
      );
    }
    const users = await db.query<{ site_id: string; day: string; n: string | number }>(
      "SELECT site_id, to_char(day, 'YYYY-MM-DD') AS day, count(*) AS n FROM site_daily_users GROUP BY 1, 2",
    );
    const gotUsers = new Map(users.rows.map((r) => [`${r.site_id}|${r.day}`, Number(r.n)]));
    const wrongUsers = [...recount.users].filter(([k, v]) => gotUsers.get(k) !== v.size).length;
    if (wrongUsers > 0 || gotUsers.size !== recount.users.size) {
      errors.push(
        `site_daily_users: ${wrongUsers} (site, day) unique-user counts differ from the recount`,
      );
    }
    // How many keyed rows the import wrote, beside COPY's one per event.
    const tables = ['event_ids', 'site_daily_users', 'site_daily_paths', 'site_daily_type_paths'];
    const rows = await db.query<Record<string, string | number>>(
      `SELECT ${tables.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(', ')}`,
    );
    onRows(Object.fromEntries(tables.map((t) => [t, Number(rows.rows[0]![t])])));
    return errors;
  } finally {
    await db.close();
  }
}

/**
 * Page views in time order over the last 30 days (ending two hours ago): sites and paths
 * Zipf-distributed (a few big sites, a few popular pages), users uniform; ids are the
 * client's UUIDv7 of the event time. Deterministic but for the dates. Also returns the same rows
 * in COPY's text format and the recount.
 */
async function generate(
  file: string,
  events: number,
): Promise<{ recount: Recount; copyLines: string[] }> {
  const rand = prng(20261201);
  const site = zipf(SITES, rand);
  const path = zipf(PATHS, rand);
  const end = Date.now() - 2 * 3600_000;
  const start = end - DAYS * DAY_MS;
  const step = (DAYS * DAY_MS) / events;
  const recount: Recount = { events, views: new Map(), users: new Map() };
  const copyLines: string[] = new Array<string>(events);
  const stream = createWriteStream(file);
  let chunk = '';
  for (let i = 0; i < events; i++) {
    const ts = Math.floor(start + i * step + rand() * step);
    const iso = new Date(ts).toISOString();
    const day = iso.slice(0, 10);
    const s = `site-${String(site() + 1).padStart(2, '0')}`;
    const p = path();
    const pathText = `/section-${p % 12}/page-${p}`;
    const user = Math.floor(rand() * USERS);
    const id = uuidv7(ts);
    chunk += `{"event_id":"${id}","type":"page_view","site_id":"${s}","path":"${pathText}","user_id":"user-${user}","ts":"${iso}"}\n`;
    copyLines[i] = `${id}\t${s}\t${day}\t${pathText}\tuser-${user}`;
    const key = `${s}|${day}`;
    recount.views.set(key, (recount.views.get(key) ?? 0) + 1);
    let set = recount.users.get(key);
    if (!set) {
      set = new Set();
      recount.users.set(key, set);
    }
    set.add(user);
    if (chunk.length > 1 << 20) {
      if (!stream.write(chunk)) {
        await once(stream, 'drain');
      }
      chunk = '';
    }
  }
  stream.end(chunk);
  await once(stream, 'finish');
  return { recount, copyLines };
}

/** Zipf(1) over 0 … n-1: item k with weight 1/(k+1). */
function zipf(n: number, rand: () => number): () => number {
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / (k + 1);
    cdf.push(sum);
  }
  return () => {
    const x = rand() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  };
}
