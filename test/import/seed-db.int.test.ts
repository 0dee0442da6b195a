/**
 * `tally import --from seed-00N postgres://…`: each seed's tables created from its README, filled
 * with history (2024–2026, several sites or ads and days, repeated users, bad rows), imported into
 * a fresh Tally database, and every rollup and report compared with a recount done in SQL over
 * the seed's own tables. A second run counts nothing again; a run that dies midway resumes.
 * Needs PostgreSQL on 127.0.0.1:5432; under CI=true it must be there.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openSeedDbSource, type Seed, type SeedDbOptions } from '../../src/import/seed-db.js';
import { runImport, type ImportSummary } from '../../src/import/run-import.js';
import type { ImportSource } from '../../src/import/source.js';
import { adStats } from '../../src/reporting/reports/ad-stats.js';
import { siteStats } from '../../src/reporting/reports/site-stats.js';
import type { Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { createPgDb } from '../../src/storage/pg-db.js';
import { requireService } from '../helpers/services.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';

const runs = requireService(
  'PostgreSQL',
  await pgAvailable(),
  'bash scripts/services.sh up starts it',
);

type Row = Record<string, unknown>;
const DAYS = ['2024-02-29', '2024-12-31', '2025-06-15', '2026-01-01', '2026-03-01'].map((d) =>
  Date.parse(`${d}T00:00:00Z`),
);
const SITES = ['site-abc-123', 'blog', 'shop'];
const PATHS = ['/', '/pricing', '/blog/post-1', '/products/123', '/search?q=shoes', '/about#team'];
const OLD = Date.UTC(1999, 11, 31, 23, 0);
const iso = (ms: number) => new Date(ms).toISOString();
/** A zone-less timestamp literal (Prisma's and seed 002's TIMESTAMP columns hold UTC). */
const naive = (ms: number) => iso(ms).slice(0, -1);

function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
/** Distinct event times over the days, every hour of the day hit, some seconds before midnight. */
const timeOf = (i: number) => DAYS[i % DAYS.length]! + ((i * 9973) % 86_400) * 1000 + (i % 997);

const cleanup: (() => Promise<void>)[] = [];

/** `tally <args>` as a child process, as a user runs it. */
function cli(args: string[], env: Record<string, string>) {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main/cli.ts', ...args], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    proc.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
}
afterAll(async () => {
  for (const f of cleanup.reverse()) {
    await f().catch(() => undefined);
  }
});

/** A throwaway seed database with its README's tables, through one client. */
async function seedDatabase(ddl: string, timezone?: string) {
  const database = await createTestDatabase();
  cleanup.push(database.drop);
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  cleanup.push(() => client.end());
  if (timezone !== undefined) {
    // The import must not depend on the seed database's zone.
    await client.query(
      `ALTER DATABASE ${new URL(database.url).pathname.slice(1)} SET timezone TO '${timezone}'`,
    );
  }
  await client.query(ddl);
  return { url: database.url, client };
}

/** A fresh, migrated Tally database. */
async function tallyDatabase(): Promise<Db> {
  const database = await createTestDatabase();
  cleanup.push(database.drop);
  const db = createPgDb({ url: database.url, poolSize: 3 });
  cleanup.push(() => db.close());
  await migrate(db);
  return db;
}

/** Bulk insert through unnest: one array per column, typed. */
async function insert(
  client: pg.Client,
  table: string,
  columns: [string, string][],
  rows: unknown[][],
  returning?: string,
): Promise<string[]> {
  const cols = columns.map(([c]) => `"${c}"`).join(', ');
  const arrays = columns.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ');
  const r = await client.query<{ k: string }>(
    `INSERT INTO ${table} (${cols}) SELECT * FROM unnest(${arrays})${returning ? ` RETURNING ${returning}::text AS k` : ''}`,
    columns.map((_, i) => rows.map((row) => row[i] ?? null)),
  );
  return r.rows.map((row) => row.k);
}

const importOptions = (name: string) => ({
  name,
  batchRecords: 500,
  strict: false,
  dedup: undefined,
  normalize: { minTsMs: Date.UTC(2000, 0, 1), maxFutureMs: 3_600_000 },
});

async function importSeed(
  db: Db,
  seed: Seed,
  url: string,
  opts: SeedDbOptions = {},
): Promise<{ summary: ImportSummary; source: ImportSource }> {
  const source = await openSeedDbSource(seed, url, opts);
  const summary = await runImport(db, source, importOptions(seed));
  return { summary, source };
}

interface Q {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Rows in a stable order, whatever the collation. */
async function rows(db: Q, sql: string, params?: unknown[]) {
  const r = await db.query(sql, params);
  return r.rows.map((x) => JSON.stringify(x)).sort();
}

const ROLLUPS = [
  'site_daily',
  'site_daily_types',
  'site_daily_paths',
  'site_daily_type_paths',
  'site_daily_users',
  'site_hourly',
  'ad_minute',
  'ad_hourly',
  'ad_daily',
];
async function snapshot(db: Db) {
  const out: Record<string, string[]> = {};
  for (const t of ROLLUPS) {
    out[t] = await rows(db, `SELECT * FROM ${t}`);
  }
  return out;
}

const normType = `regexp_replace(lower(btrim(event_type)), '[^a-z0-9_.:-]+', '_', 'g')`;
const normPath = `regexp_replace(path, '[?#].*$', '')`;

/**
 * The site rollups recounted over a seed's own rows: `raw` gives site_id, ts (UTC, zone-less),
 * event_type, path and ukey (`u:<user>` / `v:<visitor>`) of every row that must count.
 */
function siteRecount(raw: string) {
  const ev = `WITH raw AS (${raw}), ev AS (
    SELECT site_id, to_char(ts, 'YYYY-MM-DD') AS day, to_char(ts, 'YYYY-MM-DD"T"HH24') AS hour,
      CASE ${normType} WHEN 'click' THEN 'site_click' WHEN 'impression' THEN 'site_impression' ELSE ${normType} END AS type,
      CASE WHEN path IS NULL THEN NULL WHEN ${normPath} = '' THEN '/' ELSE ${normPath} END AS path,
      ukey FROM raw)`;
  const views = `count(*) FILTER (WHERE type = 'page_view')::int AS views`;
  return {
    site_daily: `${ev} SELECT site_id, day, ${views}, count(*)::int AS events FROM ev GROUP BY 1, 2`,
    site_daily_types: `${ev} SELECT site_id, day, type, count(*)::int AS events FROM ev GROUP BY 1, 2, 3`,
    site_daily_paths: `${ev} SELECT site_id, day, path, count(*)::int AS views FROM ev WHERE type = 'page_view' AND path IS NOT NULL GROUP BY 1, 2, 3`,
    site_daily_users: `${ev} SELECT DISTINCT site_id, day, ukey AS user_key FROM ev WHERE ukey IS NOT NULL`,
    site_hourly: `${ev} SELECT site_id, hour, ${views}, count(*)::int AS events FROM ev GROUP BY 1, 2`,
    totals: `${ev} SELECT site_id, ${views}, count(*)::int AS events, count(DISTINCT ukey)::int AS users FROM ev GROUP BY 1`,
    types: `${ev} SELECT site_id, type, count(*)::int AS events FROM ev GROUP BY 1, 2`,
    top: `${ev} SELECT path, count(*)::int AS views FROM ev WHERE site_id = $2 AND type = 'page_view' AND path IS NOT NULL GROUP BY path ORDER BY views DESC, path ASC LIMIT 10`,
  };
}

const TALLY_SITE = {
  site_daily:
    'SELECT site_id, day::text AS day, views::int AS views, events::int AS events FROM site_daily',
  site_daily_types:
    'SELECT site_id, day::text AS day, type, events::int AS events FROM site_daily_types',
  site_daily_paths:
    'SELECT site_id, day::text AS day, path, views::int AS views FROM site_daily_paths',
  site_daily_users: 'SELECT site_id, day::text AS day, user_key FROM site_daily_users',
  site_hourly: `SELECT site_id, to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') AS hour, views::int AS views, events::int AS events FROM site_hourly`,
};

/** Every site rollup and siteStats of every site equal the recount of the seed's rows. */
async function expectSiteCounts(db: Db, seedClient: pg.Client, raw: string, bad: string[]) {
  const recount = siteRecount(raw);
  for (const [table, sql] of Object.entries(TALLY_SITE)) {
    const expected = await rows(seedClient, recount[table as keyof typeof TALLY_SITE], [bad]);
    expect(expected.length, table).toBeGreaterThan(0);
    expect(await rows(db, sql), table).toEqual(expected);
  }
  const totals = (await seedClient.query<Row>(recount.totals, [bad])).rows;
  const types = (await seedClient.query<Row>(recount.types, [bad])).rows;
  expect(totals.map((t) => t.site_id).sort()).toEqual([...SITES].sort());
  for (const t of totals) {
    const site = t.site_id as string;
    const top = await seedClient.query<Row>(recount.top, [bad, site]);
    expect(await siteStats(db, site, '1970-01-01', '9999-12-31', 10)).toEqual({
      total_views: t.views,
      total_events: t.events,
      unique_users: t.users,
      top_paths: top.rows,
      events_by_type: Object.fromEntries(
        types.filter((x) => x.site_id === site).map((x) => [x.type, x.events]),
      ),
    });
  }
}

const adSql = (table: string, fmt: string) =>
  `SELECT to_char(bucket AT TIME ZONE 'UTC', '${fmt}') AS bucket, ad_id, ad_unit_id, campaign_id, creative_id, account_id, impressions::int AS impressions, clicks::int AS clicks FROM ${table}`;
const AD_BUCKETS = [
  ['ad_minute', 'YYYY-MM-DD"T"HH24:MI'],
  ['ad_hourly', 'YYYY-MM-DD"T"HH24'],
  ['ad_daily', 'YYYY-MM-DD'],
] as const;

/** Sites' history rows, shared by the site seeds. */
function siteHistory(n: number, seed: number, types: string[], visitors: boolean) {
  const r = rng(seed);
  const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
  const cookies = Array.from({ length: 60 }, () => randomUUID());
  return Array.from({ length: n }, (_, i) => {
    const ts = timeOf(i);
    return {
      id: randomUUID(),
      site: pick(r, SITES),
      type: pick(r, types),
      path: r() < 0.08 ? null : pick(r, PATHS),
      user: visitors ? (r() < 0.1 ? pick(r, users) : null) : r() < 0.25 ? null : pick(r, users),
      visitor: visitors && r() > 0.03 ? pick(r, cookies) : null,
      ts,
      received: ts + Math.floor(r() * 5000),
    };
  });
}

function expectRefusals(
  summary: ImportSummary,
  expected: [string, string][],
  earlier: Record<string, number> = {},
) {
  const refused: Record<string, number> = { ...earlier };
  for (const [, reason] of expected) {
    refused[reason] = (refused[reason] ?? 0) + 1;
  }
  expect(summary.refused).toEqual(refused);
  expect(summary.examples.map((e) => [e.where, e.reason]).sort()).toEqual(
    expected.map(([key, reason]) => [`row ${key}`, reason]).sort(),
  );
}

/** The second run reads nothing and changes nothing. */
async function expectRerunCountsNothing(db: Db, seed: Seed, url: string, opts?: SeedDbOptions) {
  const before = await snapshot(db);
  const { summary } = await importSeed(db, seed, url, opts);
  expect(summary.resumed).toBe(true);
  expect(summary.thisRun).toEqual({ records: 0, imported: 0 });
  expect(await snapshot(db)).toEqual(before);
  return summary;
}

describe.skipIf(!runs)('tally import --from seed-00N (the seed database)', () => {
  it('seed 000: ad_stats_minute counters into every ad rollup; a run that dies midway resumes', async () => {
    const seed = await seedDatabase(
      `CREATE TABLE processed_events (event_id text PRIMARY KEY);
       CREATE TABLE ad_stats_minute (bucket_start timestamptz NOT NULL, ad_id text NOT NULL,
         impressions integer NOT NULL DEFAULT 0, clicks integer NOT NULL DEFAULT 0,
         PRIMARY KEY (bucket_start, ad_id))`,
      'Pacific/Kiritimati',
    );
    const r = rng(0);
    const rowsIn: unknown[][] = [];
    const minutes = new Set<number>();
    for (let i = 0; rowsIn.length < 1200; i++) {
      const minute = timeOf(i) - (timeOf(i) % 60_000);
      if (minutes.has(minute)) {
        continue;
      }
      minutes.add(minute);
      // Several ads share most minutes: pages end inside a minute.
      for (const ad of ['1', '2', '3', '10', 'ad-7'].filter(() => r() < 0.6)) {
        rowsIn.push([iso(minute), ad, 1 + Math.floor(r() * 50), Math.floor(r() * 5)]);
      }
    }
    const bad: [string, string][] = [
      [JSON.stringify(['2025-06-15 10:00:00+00', 'bad\u0001ad']), 'invalid ad_id'],
      [JSON.stringify(['2025-06-15 10:01:00+00', 'bad-count']), 'invalid counts'],
    ];
    rowsIn.push(
      ['2025-06-15T10:00:00Z', 'bad\u0001ad', 3, 1],
      ['2025-06-15T10:01:00Z', 'bad-count', 4, -1],
      // Before MIN_EVENT_TS: the earliest key, so refused by the first run.
      ['1999-12-31T23:00:00Z', 'bad-old', 5, 1],
    );
    const cols: [string, string][] = [
      ['bucket_start', 'timestamptz'],
      ['ad_id', 'text'],
      ['impressions', 'int4'],
      ['clicks', 'int4'],
    ];
    await insert(seed.client, 'ad_stats_minute', cols, rowsIn);
    const total = rowsIn.length;

    const db = await tallyDatabase();
    // First run: the source fails after 700 rows, once the first batch (500) is committed.
    const source = await openSeedDbSource('seed-000', seed.url, { pageRows: 128 });
    const dying: ImportSource = {
      ...source,
      async *read(after) {
        let n = 0;
        for await (const rec of source.read(after)) {
          if (++n > 700) {
            while (
              (await db.query('SELECT 1 FROM imports WHERE position IS NOT NULL')).rowCount === 0
            ) {
              await new Promise((res) => setTimeout(res, 10));
            }
            throw new Error('connection to the seed lost');
          }
          yield rec;
        }
      },
    };
    await expect(runImport(db, dying, importOptions('seed-000'))).rejects.toThrow('seed lost');
    const { summary, source: resumed } = await importSeed(db, 'seed-000', seed.url, {
      pageRows: 128,
    });
    expect(summary).toMatchObject({ resumed: true, records: total, imported: total - 3 });
    expect(summary.thisRun.records).toBe(total - 500);
    expect(resumed.progress()).toEqual({ done: total - 500, total });
    // The 1999 row was refused by the first run: in the totals, not among this run's examples.
    expectRefusals(summary, bad, { too_old: 1 });

    const good = `FROM ad_stats_minute WHERE ad_id NOT LIKE 'bad%'`;
    for (const [table, fmt] of AD_BUCKETS) {
      const expected = await rows(
        seed.client,
        `SELECT to_char(bucket_start AT TIME ZONE 'UTC', '${fmt}') AS bucket, ad_id, '' AS ad_unit_id, '' AS campaign_id, '' AS creative_id, '' AS account_id,
           sum(impressions)::int AS impressions, sum(clicks)::int AS clicks ${good} GROUP BY 1, 2`,
      );
      expect(await rows(db, adSql(table, fmt)), table).toEqual(expected);
    }
    const report = await adStats(db, {
      interval: 'day',
      fromBucket: '2024-01-01T00:00:00Z',
      toBucket: '2026-12-31T00:00:00Z',
      groupBy: 'ad_id',
      filters: { ad_id: 'ad-7' },
      limit: 1000,
    });
    const perDay = await seed.client.query<{ day: string; i: number; c: number }>(
      `SELECT to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, sum(impressions)::int AS i, sum(clicks)::int AS c ${good} AND ad_id = 'ad-7' GROUP BY 1 ORDER BY 1`,
    );
    expect(report).toEqual(
      perDay.rows.map((d) => ({
        bucket: `${d.day}T00:00:00.000Z`,
        group: 'ad-7',
        impressions: d.i,
        clicks: d.c,
        ctr: d.c / d.i,
      })),
    );
    await expectRerunCountsNothing(db, 'seed-000', seed.url);
  });

  it('seed 001: the Prisma "Event" table, its id as the event id, inserted_at as the arrival', async () => {
    const seed = await seedDatabase(`
      CREATE TABLE "Event" (
        "id" TEXT NOT NULL,
        "site_id" TEXT NOT NULL,
        "event_type" TEXT NOT NULL,
        "path" TEXT,
        "user_id" TEXT,
        "timestamp" TIMESTAMP(3) NOT NULL,
        "inserted_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT "Event_pkey" PRIMARY KEY ("id"));
      CREATE INDEX "Event_site_id_event_type_timestamp_idx" ON "Event"("site_id", "event_type", "timestamp");
      CREATE UNIQUE INDEX "Event_site_id_user_id_path_timestamp_key" ON "Event"("site_id", "user_id", "path", "timestamp");`);
    const h = siteHistory(
      1500,
      1,
      ['page_view', 'page_view', 'Page View', 'signup', 'click'],
      false,
    );
    const bad = [
      { ...h[0]!, id: randomUUID(), type: '***', ts: timeOf(5000) },
      { ...h[1]!, id: randomUUID(), ts: OLD, received: OLD + 1000 },
    ];
    const cols: [string, string][] = [
      ['id', 'text'],
      ['site_id', 'text'],
      ['event_type', 'text'],
      ['path', 'text'],
      ['user_id', 'text'],
      ['timestamp', 'timestamp'],
      ['inserted_at', 'timestamp'],
    ];
    const asRow = (e: (typeof h)[number]) => [
      e.id,
      e.site,
      e.type,
      e.path,
      e.user,
      naive(e.ts),
      naive(e.received),
    ];
    await insert(seed.client, '"Event"', cols, [...h, ...bad].map(asRow));

    const db = await tallyDatabase();
    const { summary, source } = await importSeed(db, 'seed-001', seed.url, { pageRows: 128 });
    const total = h.length + bad.length;
    expect(summary).toMatchObject({ records: total, imported: h.length, resumed: false });
    expect(source.progress()).toEqual({ done: total, total });
    expectRefusals(summary, [
      [bad[0]!.id, 'invalid event_type'],
      [bad[1]!.id, 'too_old'],
    ]);
    expect(summary.examples.find((e) => e.reason === 'too_old')!.message).toContain(
      'ts is before 2000-01-01T00:00:00.000Z',
    );
    await expectSiteCounts(
      db,
      seed.client,
      `SELECT site_id, "timestamp" AS ts, event_type, path, 'u:' || user_id AS ukey FROM "Event" WHERE id <> ALL($1::text[])`,
      bad.map((b) => b.id),
    );
    await expectRerunCountsNothing(db, 'seed-001', seed.url);

    // The fingerprint is taken from the oldest rows: rows added later leave it as it was.
    const a = await openSeedDbSource('seed-001', seed.url);
    const before = await a.fingerprint();
    await a.close();
    const more = siteHistory(50, 9, ['page_view'], false).map((e) => ({
      ...e,
      ts: e.ts + 1,
      received: Date.UTC(2026, 5, 1),
    }));
    await insert(seed.client, '"Event"', cols, more.map(asRow));
    const b = await openSeedDbSource('seed-001', seed.url);
    expect(await b.fingerprint()).toBe(before);
    await b.close();
  });

  it('seed 002: raw events (not metrics_hourly), the account from the campaign mapping first', async () => {
    const seed = await seedDatabase(`
      CREATE TABLE events (
        id BIGSERIAL PRIMARY KEY,
        event_type VARCHAR(20) NOT NULL,
        ad_unit_id UUID NOT NULL,
        campaign_id UUID NOT NULL,
        creative_id UUID NOT NULL,
        account_id UUID NOT NULL,
        page_url TEXT NOT NULL,
        user_agent TEXT,
        timestamp TIMESTAMP NOT NULL,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
      CREATE TABLE metrics_hourly (
        id BIGSERIAL PRIMARY KEY,
        account_id UUID NOT NULL,
        ad_unit_id UUID,
        campaign_id UUID,
        hour_timestamp TIMESTAMP NOT NULL,
        impressions INTEGER DEFAULT 0,
        clicks INTEGER DEFAULT 0,
        requests INTEGER DEFAULT 0,
        revenue_cents INTEGER DEFAULT 0,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        UNIQUE(account_id, ad_unit_id, campaign_id, hour_timestamp));`);
    const units = Array.from({ length: 3 }, () => randomUUID());
    const campaigns = Array.from({ length: 3 }, () => randomUUID());
    const creatives = Array.from({ length: 4 }, () => randomUUID());
    const accountOf = new Map(campaigns.map((c) => [c, randomUUID()]));
    const campaignAccounts = { [campaigns[0]!]: 'acct-mapped' };

    // Aggregates without their raw events cannot be imported: refused at open.
    await seed.client.query(
      `INSERT INTO metrics_hourly (account_id, hour_timestamp, impressions) VALUES ($1, '2025-06-15 10:00', 5)`,
      [randomUUID()],
    );
    await expect(openSeedDbSource('seed-002', seed.url)).rejects.toThrow(
      'only hourly aggregates are left',
    );

    const r = rng(2);
    const pixel = (i: number, type = r() < 0.85 ? 'impression' : 'click', ts = timeOf(i)) => {
      const campaign = pick(r, campaigns);
      return [
        type,
        pick(r, units),
        campaign,
        pick(r, creatives),
        accountOf.get(campaign),
        `https://example.com/p/${i % 7}?ref=x`,
        'Mozilla/5.0',
        naive(ts),
        naive(ts + 2000),
      ];
    };
    const cols: [string, string][] = [
      ['event_type', 'varchar'],
      ['ad_unit_id', 'uuid'],
      ['campaign_id', 'uuid'],
      ['creative_id', 'uuid'],
      ['account_id', 'uuid'],
      ['page_url', 'text'],
      ['user_agent', 'text'],
      ['timestamp', 'timestamp'],
      ['created_at', 'timestamp'],
    ];
    await insert(
      seed.client,
      'events',
      cols,
      Array.from({ length: 700 }, (_, i) => pixel(i)),
    );
    const [view] = await insert(seed.client, 'events', cols, [pixel(700, 'view')], 'id');
    const [old] = await insert(seed.client, 'events', cols, [pixel(701, 'click', OLD)], 'id');
    await insert(
      seed.client,
      'events',
      cols,
      Array.from({ length: 800 }, (_, i) => pixel(702 + i)),
    );
    const total = 1502;

    const db = await tallyDatabase();
    const opts = { campaignAccounts, pageRows: 128 };
    const { summary } = await importSeed(db, 'seed-002', seed.url, opts);
    expect(summary).toMatchObject({ records: total, imported: total - 2 });
    expectRefusals(summary, [
      [view!, 'invalid event_type'],
      [old!, 'too_old'],
    ]);

    const account = `COALESCE((SELECT m.account FROM json_each_text($1::json) m(campaign, account) WHERE m.campaign = e.campaign_id::text), e.account_id::text)`;
    const good = `FROM events e WHERE e.id <> ALL($2::int8[])`;
    for (const [table, fmt] of AD_BUCKETS) {
      const expected = await rows(
        seed.client,
        `SELECT to_char("timestamp", '${fmt}') AS bucket, '' AS ad_id, ad_unit_id::text AS ad_unit_id, campaign_id::text AS campaign_id, creative_id::text AS creative_id, ${account} AS account_id,
           count(*) FILTER (WHERE event_type = 'impression')::int AS impressions, count(*) FILTER (WHERE event_type = 'click')::int AS clicks
         ${good} GROUP BY 1, 2, 3, 4, 5, 6`,
        [JSON.stringify(campaignAccounts), [view, old]],
      );
      expect(await rows(db, adSql(table, fmt)), table).toEqual(expected);
    }
    const report = await adStats(db, {
      interval: 'hour',
      fromBucket: '2024-01-01T00:00:00Z',
      toBucket: '2026-12-31T23:00:00Z',
      groupBy: 'account_id',
      filters: {},
      limit: 10_000,
    });
    const expected = await seed.client.query<{ bucket: string; grp: string; i: number; c: number }>(
      `SELECT to_char("timestamp", 'YYYY-MM-DD"T"HH24:00:00.000"Z"') AS bucket, ${account} AS grp,
         count(*) FILTER (WHERE event_type = 'impression')::int AS i, count(*) FILTER (WHERE event_type = 'click')::int AS c
       ${good} GROUP BY 1, 2 ORDER BY 1, 2`,
      [JSON.stringify(campaignAccounts), [view, old]],
    );
    expect(report).toEqual(
      expected.rows.map((x) => ({
        bucket: x.bucket,
        group: x.grp,
        impressions: x.i,
        clicks: x.c,
        ctr: x.i > 0 ? x.c / x.i : 0,
      })),
    );
    expect(report.some((x) => x.group === 'acct-mapped')).toBe(true);
    await expectRerunCountsNothing(db, 'seed-002', seed.url, opts);
    // A database without the derived table opens as well.
    await seed.client.query('DROP TABLE metrics_hourly');
    await (await openSeedDbSource('seed-002', seed.url)).close();
  });

  it('seed 003: raw_events only (the daily tables are derived), visitor ids as users', async () => {
    const seed = await seedDatabase(
      `CREATE TABLE raw_events (
         event_id uuid PRIMARY KEY NOT NULL,
         site_id text NOT NULL,
         event_type text NOT NULL,
         path text NOT NULL,
         user_id text,
         visitor_id text,
         event_ts timestamptz NOT NULL,
         ingestion_ts timestamptz NOT NULL DEFAULT now(),
         event_date date GENERATED ALWAYS AS ((event_ts AT TIME ZONE 'UTC')::date) STORED);
       CREATE INDEX idx_raw_events_site_date ON raw_events (site_id, event_date);
       CREATE INDEX idx_raw_events_site_date_path ON raw_events (site_id, event_date, path);
       CREATE TABLE site_daily_aggregates (site_id text NOT NULL, date date NOT NULL,
         total_views bigint NOT NULL DEFAULT 0, unique_users bigint NOT NULL DEFAULT 0, PRIMARY KEY (site_id, date));
       CREATE TABLE site_daily_path_counts (site_id text NOT NULL, date date NOT NULL, path text NOT NULL,
         views bigint NOT NULL DEFAULT 0, PRIMARY KEY (site_id, date, path));
       CREATE TABLE site_daily_unique_users (site_id text NOT NULL, date date NOT NULL, user_id text, visitor_id text,
         CONSTRAINT unq_site_date_visitor UNIQUE NULLS NOT DISTINCT (site_id, date, visitor_id));
       -- Derived figures that disagree with raw_events: never read.
       INSERT INTO site_daily_aggregates VALUES ('blog', '2025-06-15', 999999, 999999);`,
      'America/St_Johns',
    );
    const h = siteHistory(
      1500,
      3,
      ['page_view', 'page_view', 'Page View', 'click', 'signup'],
      true,
    );
    const bad = [
      { ...h[0]!, id: randomUUID(), type: '   ' },
      { ...h[1]!, id: randomUUID(), ts: OLD, received: OLD },
    ];
    await insert(
      seed.client,
      'raw_events',
      [
        ['event_id', 'uuid'],
        ['site_id', 'text'],
        ['event_type', 'text'],
        ['path', 'text'],
        ['user_id', 'text'],
        ['visitor_id', 'text'],
        ['event_ts', 'timestamptz'],
        ['ingestion_ts', 'timestamptz'],
      ],
      [...h, ...bad].map((e) => [
        e.id,
        e.site,
        e.type,
        e.path ?? '/',
        e.user,
        e.visitor,
        iso(e.ts),
        iso(e.received),
      ]),
    );
    const db = await tallyDatabase();
    const { summary } = await importSeed(db, 'seed-003', seed.url);
    expect(summary).toMatchObject({ records: h.length + 2, imported: h.length });
    expectRefusals(summary, [
      [bad[0]!.id, 'invalid eventType'],
      [bad[1]!.id, 'too_old'],
    ]);
    await expectSiteCounts(
      db,
      seed.client,
      `SELECT site_id, event_ts AT TIME ZONE 'UTC' AS ts, event_type, path,
         CASE WHEN user_id IS NOT NULL THEN 'u:' || user_id WHEN visitor_id IS NOT NULL THEN 'v:' || visitor_id END AS ukey
       FROM raw_events WHERE event_id::text <> ALL($1::text[])`,
      bad.map((b) => b.id),
    );
    // The position is the key (event_id) of the last row, in the key's (uuid) order.
    const pos = await db.query<{ position: string }>('SELECT position FROM imports');
    expect(pos.rows[0]!.position).toBe(
      [...h, ...bad]
        .map((e) => e.id)
        .sort()
        .at(-1),
    );
    await expectRerunCountsNothing(db, 'seed-003', seed.url);
  });

  it('seed 004: events by serial id; rows added later are imported by the next run, once', async () => {
    const seed = await seedDatabase(`
      CREATE TABLE events (
        id SERIAL PRIMARY KEY,
        site_id VARCHAR(255),
        event_type VARCHAR(100),
        path TEXT,
        user_id VARCHAR(255),
        event_time TIMESTAMPTZ,
        received_at TIMESTAMPTZ);
      CREATE INDEX idx_events_site_time ON events (site_id, event_time);
      CREATE INDEX idx_events_site_path ON events (site_id, path);
      CREATE INDEX idx_events_site_user ON events (site_id, user_id);`);
    const types = [
      'page_view',
      'page_view',
      'PAGE_VIEW',
      'add_to_cart',
      'Page-View!!',
      'impression',
    ];
    const cols: [string, string][] = [
      ['site_id', 'varchar'],
      ['event_type', 'varchar'],
      ['path', 'text'],
      ['user_id', 'varchar'],
      ['event_time', 'timestamptz'],
      ['received_at', 'timestamptz'],
    ];
    const asRow = (e: ReturnType<typeof siteHistory>[number], i: number) => [
      e.site,
      e.type,
      e.path ?? '/',
      e.user,
      // A few rows without an event time: dated by their arrival.
      i % 50 === 7 ? null : iso(e.ts),
      iso(e.received),
    ];
    const h = siteHistory(1400, 4, types, false);
    await insert(seed.client, 'events', cols, h.slice(0, 600).map(asRow));
    const [noPath] = await insert(
      seed.client,
      'events',
      cols,
      [[h[0]!.site, 'page_view', null, 'user-1', iso(h[0]!.ts), iso(h[0]!.received)]],
      'id',
    );
    const [old] = await insert(
      seed.client,
      'events',
      cols,
      [[h[1]!.site, 'page_view', '/', null, iso(OLD), iso(OLD)]],
      'id',
    );
    await insert(
      seed.client,
      'events',
      cols,
      h.slice(600).map((e, i) => asRow(e, i + 600)),
    );
    const raw = `SELECT site_id, COALESCE(event_time, received_at) AT TIME ZONE 'UTC' AS ts, event_type, path, 'u:' || user_id AS ukey
      FROM events WHERE id::text <> ALL($1::text[])`;

    // Wrong database, or a URL with a password: a clear error, and no password in what is shown.
    await expect(openSeedDbSource('seed-001', seed.url)).rejects.toThrow(
      'there is no table "Event"',
    );
    const url = new URL(seed.url);
    url.password = 's3cret';
    const db = await tallyDatabase();
    const source = await openSeedDbSource('seed-004', url.toString(), { pageRows: 128 });
    const where = `${url.hostname}:${url.port}${url.pathname}`;
    expect(source.description).toBe(`seed-004 postgres://${where}`);
    expect(source.defaultName).toBe(`seed-004:${where}`);
    const fingerprint = await source.fingerprint();
    const summary = await runImport(db, source, importOptions('seed-004'));
    expect(summary).toMatchObject({ records: 1402, imported: 1400, source: source.description });
    expectRefusals(summary, [
      [noPath!, 'missing path'],
      [old!, 'too_old'],
    ]);
    await expectSiteCounts(db, seed.client, raw, [noPath!, old!]);
    await expectRerunCountsNothing(db, 'seed-004', url.toString());

    // More history arrives: the same fingerprint (so the same import), and only the new rows.
    await insert(
      seed.client,
      'events',
      cols,
      siteHistory(300, 5, types, false).map((e, i) => asRow(e, i)),
    );
    const later = await openSeedDbSource('seed-004', url.toString());
    expect(await later.fingerprint()).toBe(fingerprint);
    const next = await runImport(db, later, importOptions('seed-004'));
    expect(next).toMatchObject({ resumed: true, records: 1702, imported: 1700 });
    expect(next.thisRun).toEqual({ records: 300, imported: 300 });
    await expectSiteCounts(db, seed.client, raw, [noPath!, old!]);
    await expectRerunCountsNothing(db, 'seed-004', url.toString());
  });

  it("the command: tally import --from seed-004 <url>, its ids unique by the seed's key (no dedup table unless --dedup)", async () => {
    const seed = await seedDatabase(`
      CREATE TABLE events (id SERIAL PRIMARY KEY, site_id VARCHAR(255), event_type VARCHAR(100),
        path TEXT, user_id VARCHAR(255), event_time TIMESTAMPTZ, received_at TIMESTAMPTZ)`);
    await seed.client.query(
      `INSERT INTO events (site_id, event_type, path, user_id, event_time, received_at)
       SELECT 'cli-004', 'page_view', '/p' || (i % 3), 'u' || (i % 7), '2025-11-12T10:00:00Z'::timestamptz + i * interval '1 minute', now()
       FROM generate_series(1, 250) AS i`,
    );
    for (const dedup of [false, true]) {
      const target = await createTestDatabase();
      cleanup.push(target.drop);
      const r = await cli(
        ['import', '--from', 'seed-004', seed.url, ...(dedup ? ['--dedup'] : [])],
        { DATABASE_URL: target.url },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('250 records read');
      expect(r.stdout).toContain('250 counted');
      const db = createPgDb({ url: target.url, poolSize: 1 });
      try {
        const v = await db.query<{ views: string; ids: string }>(
          "SELECT (SELECT SUM(views) FROM site_daily WHERE site_id = 'cli-004')::int8 AS views, (SELECT count(*) FROM event_ids)::int8 AS ids",
        );
        expect(v.rows[0]).toEqual({ views: '250', ids: dedup ? '250' : '0' });
      } finally {
        await db.close();
      }
    }
  });
});
