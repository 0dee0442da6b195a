/**
 * Report latency over a year of one site's data: 1 M visitors, 50,000 distinct paths (issue 12,
 * "Performance and scale"). The rollup tables are filled in SQL, as the aggregator fills them
 * (per site and day, one row per visitor-day in each per-visitor table), on the embedded
 * database and on a PostgreSQL server, and the monthly path rollups compacted from them as the
 * aggregator's maintenance does; then the real server answers each report over HTTP,
 * a warm-up and `--runs` timed requests each, of which the median is reported.
 *
 *   node --import tsx scripts/bench/reports.ts [--db embedded,postgres] [--runs 7]
 *     [--visitors 1000000] [--paths 50000] [--keys named|anonymous]
 *     (or: npm run bench -- --reports …)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Db } from '../../src/storage/db.js';
import { createPathMonths, STEP_DAYS } from '../../src/aggregate/path-months.js';
import { createLogger } from '../../src/logger.js';
import { migrate } from '../../src/storage/migrate.js';
import { compactStep } from '../../src/storage/path-months.repo.js';
import { createPgDb } from '../../src/storage/pg-db.js';
import { createPgliteDb } from '../../src/storage/pglite-db.js';
import { createDatabase, throwawayName } from '../../test/harness/databases.js';
import { serveInProcess } from '../../test/harness/in-process.js';
import { SERVICES } from './services.js';

const DAY_MS = 86_400_000;
const SITE = 'rpt';

interface DataSet {
  visitors: number;
  paths: number;
  /** Distinct paths viewed per day (the top 500 every day, the rest rotating over all). */
  pathsPerDay: number;
  days: number;
  /**
   * The visitors' key kind: `named` ('v:', a visitor_id: a visitor comes back on other days)
   * or `anonymous` ('h:', the tracker's cookieless default: day-scoped, a new key each day).
   */
  keys: 'named' | 'anonymous';
}

/**
 * The data set, in SQL: visitor v comes on day v mod 365, and 3 in 10 come back once more on
 * another day (1.3 visitor-days per visitor); each has one of 8 browsers, 6 OSes, 3 devices and
 * 52 countries; a source per visit (15 named sources, 1 in 10 visits from a long tail of 5,000
 * sites); 1 in 10 visits carries a UTM campaign (40 campaigns). 3 views per visit.
 */
function fillSql(d: DataSet, first: string): string[] {
  const day = (expr: string) => `'${first}'::date + (${expr})`;
  // Anonymous: the same visit pattern, but a returning visit is a new key (its day's hash).
  const again = d.keys === 'named' ? `'v:' || v` : `'h:' || (v + ${d.visitors})`;
  const once = d.keys === 'named' ? `'v:' || v` : `'h:' || v`;
  return [
    `INSERT INTO site_daily_users (site_id, day, user_key)
     SELECT '${SITE}', ${day('v % 365')}, ${once} FROM generate_series(0, ${d.visitors - 1}) v
     UNION ALL
     SELECT '${SITE}', ${day('(v * 7 + 100) % 365')}, ${again} FROM generate_series(0, ${d.visitors - 1}) v
       WHERE v % 10 < 3 AND (v * 7 + 100) % 365 <> v % 365`,
    `INSERT INTO site_daily_user_profiles (site_id, day, user_key, browser, os, device, country)
     SELECT site_id, day, user_key,
       (ARRAY['Chrome','Safari','Firefox','Edge','Samsung Internet','Opera','(unknown)','Chrome'])[n % 8 + 1],
       (ARRAY['Windows','iOS','Android','macOS','Linux','(unknown)'])[n % 6 + 1],
       (ARRAY['desktop','mobile','tablet'])[n % 3 + 1],
       chr(65 + n % 26) || chr(65 + (n / 26) % 2)
     FROM (SELECT *, substr(user_key, 3)::int AS n FROM site_daily_users WHERE site_id = '${SITE}') u`,
    `INSERT INTO site_daily_dim_users (site_id, day, dim, value, user_key)
     SELECT site_id, day, 'source',
       CASE WHEN (n + day - '${first}'::date) % 10 = 9 THEN 'site' || (n % 5000) || '.example'
            ELSE (ARRAY['(direct)','Google','Bing','DuckDuckGo','Facebook','Twitter','Reddit','LinkedIn','Instagram','YouTube','news.ycombinator.com','Yahoo!','Ecosia','Baidu','Pinterest'])[(n + day - '${first}'::date) % 15 + 1] END,
       user_key
     FROM (SELECT *, substr(user_key, 3)::int AS n FROM site_daily_users WHERE site_id = '${SITE}') u
     UNION ALL
     SELECT site_id, day, 'utm_campaign', 'c' || (n % 40), user_key
     FROM (SELECT *, substr(user_key, 3)::int AS n FROM site_daily_users WHERE site_id = '${SITE}') u
     WHERE n % 10 = 0`,
    // Counters: 3 views and 4 events per visitor-day and value.
    `INSERT INTO site_daily_dims (site_id, day, dim, value, views, events)
     SELECT site_id, day, dim, value, 3 * count(*), 4 * count(*) FROM (
       SELECT site_id, day, 'browser' AS dim, browser AS value FROM site_daily_user_profiles
       UNION ALL SELECT site_id, day, 'os', os FROM site_daily_user_profiles
       UNION ALL SELECT site_id, day, 'device', device FROM site_daily_user_profiles
       UNION ALL SELECT site_id, day, 'country', country FROM site_daily_user_profiles
       UNION ALL SELECT site_id, day, dim, value FROM site_daily_dim_users
     ) x WHERE site_id = '${SITE}' GROUP BY site_id, day, dim, value`,
    // What the aggregator counts as anonymous visitors' rows go in (migrations/0013).
    `INSERT INTO site_daily_anon (site_id, day, visitors)
     SELECT site_id, day, count(*) FROM site_daily_users WHERE site_id = '${SITE}' AND user_key LIKE 'h:%' GROUP BY site_id, day`,
    `INSERT INTO site_daily_dim_anon (site_id, day, dim, value, visitors)
     SELECT site_id, day, dim, value, count(*) FROM (
       SELECT site_id, day, 'browser' AS dim, browser AS value, user_key FROM site_daily_user_profiles
       UNION ALL SELECT site_id, day, 'os', os, user_key FROM site_daily_user_profiles
       UNION ALL SELECT site_id, day, 'device', device, user_key FROM site_daily_user_profiles
       UNION ALL SELECT site_id, day, 'country', country, user_key FROM site_daily_user_profiles
       UNION ALL SELECT site_id, day, dim, value, user_key FROM site_daily_dim_users
     ) x WHERE site_id = '${SITE}' AND user_key LIKE 'h:%' GROUP BY site_id, day, dim, value`,
    `INSERT INTO site_daily (site_id, day, views, events)
     SELECT site_id, day, 3 * count(*), 4 * count(*) FROM site_daily_users WHERE site_id = '${SITE}' GROUP BY site_id, day`,
    `INSERT INTO site_hourly (site_id, hour, views, events)
     SELECT site_id, day + make_interval(hours => h), views / 24, events / 24
     FROM site_daily, generate_series(0, 23) h WHERE site_id = '${SITE}'`,
    `INSERT INTO site_daily_types (site_id, day, type, events)
     SELECT site_id, day, t.type, CASE WHEN t.type = 'page_view' THEN views ELSE events - views END
     FROM site_daily, (VALUES ('page_view'), ('signup')) t(type) WHERE site_id = '${SITE}'`,
    `INSERT INTO site_daily_type_paths (site_id, day, type, path, events, first_ms)
     SELECT '${SITE}', ${day('d')}, 'page_view',
       '/p' || CASE WHEN i < 500 THEN i ELSE 500 + (d * ${d.pathsPerDay - 500} + i - 500) % ${d.paths - 500} END,
       greatest(1, 2000 / (i + 1)), 0
     FROM generate_series(0, ${d.days - 1}) d, generate_series(0, ${d.pathsPerDay - 1}) i`,
    `INSERT INTO site_daily_paths (site_id, day, path, views)
     SELECT site_id, day, path, events FROM site_daily_type_paths WHERE site_id = '${SITE}'`,
    `INSERT INTO site_daily_props (site_id, day, type, key, value, events)
     SELECT '${SITE}', ${day('d')}, 'signup', 'plan', p, 10 + d % 7
     FROM generate_series(0, ${d.days - 1}) d, unnest(ARRAY['free','pro','team']) p`,
    'ANALYZE',
  ];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function fill(db: Db, d: DataSet, first: string): Promise<number> {
  const t0 = performance.now();
  await migrate(db);
  for (const sql of fillSql(d, first)) {
    await db.query(sql);
  }
  // The monthly path rollups, as the aggregator's maintenance compacts them (migrations/0014):
  // every day before yesterday, a day per transaction.
  const t1 = performance.now();
  let steps = 0;
  while ((await compactStep(db, iso(Date.now() - DAY_MS), STEP_DAYS)) !== undefined) {
    steps++;
  }
  // The maintenance's job finds nothing left.
  if ((await createPathMonths(db, createLogger({ level: 'warn' }))()) !== undefined) {
    throw new Error('the compaction was not caught up');
  }
  await db.query('ANALYZE site_monthly_paths, site_monthly_type_paths');
  const s = (performance.now() - t1) / 1000;
  console.log(
    `  monthly path compaction: ${steps} steps of ${STEP_DAYS} day in ${s.toFixed(1)} s (${((s * 1000) / Math.max(1, steps)).toFixed(0)} ms a step)`,
  );
  return (performance.now() - t0) / 1000;
}

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

async function countRows(db: Db): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of [
    'site_daily_users',
    'site_daily_user_profiles',
    'site_daily_dim_users',
    'site_daily_dims',
    'site_daily_paths',
    'site_monthly_paths',
    'site_monthly_type_paths',
  ]) {
    const r = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`);
    out[t] = Number(r.rows[0]!.n);
  }
  return out;
}

/** The reports timed, as paths under the server. */
function reports(from: string, to: string, month: string, half: string): [string, string][] {
  const y = `site_id=${SITE}&from=${from}&to=${to}`;
  const h = `site_id=${SITE}&from=${half}&to=${to}`;
  const m = `site_id=${SITE}&from=${month}&to=${to}`;
  return [
    ['stats, year', `/v1/stats?${y}`],
    ['stats, 30 days', `/v1/stats?${m}`],
    ['timeseries per day, year', `/v1/stats/timeseries?${y}`],
    ['breakdown browser, year', `/v1/stats/breakdown?${y}&dimension=browser`],
    ['breakdown country, year', `/v1/stats/breakdown?${y}&dimension=country`],
    ['breakdown source, year', `/v1/stats/breakdown?${y}&dimension=source`],
    ['breakdown utm_campaign, year', `/v1/stats/breakdown?${y}&dimension=utm_campaign`],
    ['breakdown path, year', `/v1/stats/breakdown?${y}&dimension=path`],
    // The monthly rollups' worst case: a range starting mid-month reads half a month of days.
    ['breakdown path, 350 days', `/v1/stats/breakdown?${h}&dimension=path`],
    ['breakdown prop, year', `/v1/stats/breakdown?${y}&dimension=prop&type=signup&key=plan`],
    ['breakdown browser, 30 days', `/v1/stats/breakdown?${m}&dimension=browser`],
    ['stats filter browser:Chrome, year', `/v1/stats?${y}&filter=browser:Chrome`],
    ['stats filter utm_campaign:c10, year', `/v1/stats?${y}&filter=utm_campaign:c10`],
    ['timeseries filter country:AA, year', `/v1/stats/timeseries?${y}&filter=country:AA`],
    ['realtime', `/v1/realtime?site_id=${SITE}`],
  ];
}

async function timeReports(
  env: Record<string, string>,
  dataDir: string,
  runs: number,
  list: [string, string][],
): Promise<Record<string, number>> {
  const { url, running } = await serveInProcess(env, dataDir);
  const out: Record<string, number> = {};
  try {
    for (const [name, path] of list) {
      const ms: number[] = [];
      for (let i = 0; i <= runs; i++) {
        const t0 = performance.now();
        const res = await fetch(url + path);
        const body = await res.text();
        if (res.status !== 200) {
          throw new Error(`${path}: ${res.status} ${body.slice(0, 200)}`);
        }
        if (i > 0) {
          ms.push(performance.now() - t0);
        }
      }
      out[name] = median(ms);
      console.log(`  ${name.padEnd(38)} median ${median(ms).toFixed(1)} ms`);
    }
  } finally {
    await running.close();
  }
  return out;
}

export async function runReportsBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      reports: { type: 'boolean' },
      db: { type: 'string', default: 'embedded,postgres' },
      runs: { type: 'string', default: '7' },
      visitors: { type: 'string', default: '1000000' },
      paths: { type: 'string', default: '50000' },
      keys: { type: 'string', default: 'named' },
    },
    strict: true,
  });
  const d: DataSet = {
    visitors: Number(values.visitors),
    paths: Number(values.paths),
    pathsPerDay: Math.min(5000, Number(values.paths)),
    days: 365,
    keys: values.keys === 'anonymous' ? 'anonymous' : 'named',
  };
  if (values.keys !== 'named' && values.keys !== 'anonymous') {
    throw new Error(`--keys: ${values.keys} is neither named nor anonymous`);
  }
  const today = Date.UTC(
    new Date().getUTCFullYear(),
    new Date().getUTCMonth(),
    new Date().getUTCDate(),
  );
  const from = iso(today - d.days * DAY_MS);
  const to = iso(today - DAY_MS);
  const list = reports(from, to, iso(today - 30 * DAY_MS), iso(today - 350 * DAY_MS));
  const runs = Number(values.runs);
  console.log(
    `data set: 1 site, ${d.days} days (${from} … ${to}), ${d.visitors} ${d.keys} visitors, ${d.paths} paths (${d.pathsPerDay} a day)`,
  );
  const results: Record<string, Record<string, number>> = {};
  for (const kind of values.db.split(',')) {
    const dataDir = mkdtempSync(join(tmpdir(), 'tally-bench-reports-'));
    try {
      if (kind === 'embedded') {
        const db = await createPgliteDb({ dataDir: join(dataDir, 'pg') });
        const s = await fill(db, d, from);
        console.log(`embedded: filled in ${s.toFixed(0)} s`, await countRows(db));
        await db.close();
        results[kind] = await timeReports({}, dataDir, runs, list);
      } else if (kind === 'postgres') {
        const t = await createDatabase(SERVICES.pgAdminUrl, throwawayName('bench', 'reports'));
        try {
          const db = createPgDb({ url: t.url, poolSize: 2 });
          const s = await fill(db, d, from);
          console.log(`postgres: filled in ${s.toFixed(0)} s`, await countRows(db));
          await db.close();
          results[kind] = await timeReports({ DATABASE_URL: t.url }, dataDir, runs, list);
        } finally {
          await t.drop();
        }
      } else {
        throw new Error(`--db: ${kind} is neither embedded nor postgres`);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  const kinds = Object.keys(results);
  console.log(`\n| report (median of ${runs}) | ${kinds.join(' | ')} |`);
  console.log(`| --- | ${kinds.map(() => '---:').join(' | ')} |`);
  for (const [name] of list) {
    console.log(
      `| ${name} | ${kinds.map((k) => `${results[k]![name]!.toFixed(0)} ms`).join(' | ')} |`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runReportsBench(process.argv.slice(2));
}
