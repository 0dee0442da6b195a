/**
 * `/metrics` through real HTTP: Prometheus text that parses, counters that move with real
 * ingest, refusals, aggregation and dead letters, bounded labels, and an admin key under AUTH=on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/spawn.js';
import { startChild, type Child } from '../helpers/child.js';
import { caughtUp, post, startServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import { redisAvailable, requireService, TEST_REDIS_URL } from '../helpers/services.js';

const servers: TestServer[] = [];
const children: Child[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const s of servers) {
    await s.close();
  }
  for (const c of children) {
    c.proc.kill('SIGKILL');
  }
  for (const c of cleanups) {
    await c();
  }
});
const servicesUp =
  requireService('PostgreSQL', await pgAvailable(), 'it runs on 127.0.0.1:5432 on this machine') &&
  requireService('Redis', await redisAvailable(), 'bash scripts/services.sh up');

/**
 * Every sample of an exposition, keyed `name{labels}`; throws on a line that is not one. NaN may
 * come as prom-client writes it (`Nan`, e.g. the event-loop lag before its first sample), which
 * Prometheus reads (Go's ParseFloat ignores the case).
 */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      continue;
    }
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/.exec(
        line,
      );
    if (!m) {
      throw new Error(`not a Prometheus sample line: ${line}`);
    }
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

async function scrape(s: TestServer, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

const pv = (id: string) => ({ event_id: id, type: 'page_view', site_id: 'met', path: '/a' });

describe('/metrics', () => {
  it('moves with ingest, refusals, aggregation and dead letters', async () => {
    const s = await startServer();
    servers.push(s);
    const before = await scrape(s);
    expect(before.get('tally_events_accepted_total')).toBe(0);

    expect((await post(`${s.url}/v1/events`, [pv('m1'), pv('m2'), pv('m3')])).status).toBe(202);
    expect((await post(`${s.url}/v1/events`, pv('m1'))).status).toBe(202); // a duplicate
    expect((await post(`${s.url}/v1/events`, [{ type: 'page_view' }, pv('m9')])).status).toBe(400);
    const now = Date.now();
    await s.running.transport.publish([
      { event_id: 'poison-m', type: 'NOT A TYPE', ts: now, received_at: now },
    ]);
    await caughtUp(s);

    const m = await scrape(s);
    expect(m.get('tally_events_accepted_total')).toBe(4);
    expect(m.get('tally_events_refused_total{reason="invalid"}')).toBe(2);
    expect(m.get('tally_events_counted_total')).toBe(3);
    expect(m.get('tally_events_duplicate_total')).toBe(1);
    expect(m.get('tally_events_dead_lettered_total')).toBe(1);
    expect(m.get('tally_aggregator_batches_total')).toBeGreaterThanOrEqual(1);
    expect(m.get('tally_aggregator_batch_events_sum')).toBe(5);
    expect(m.get('tally_aggregator_batch_seconds_count')).toBe(
      m.get('tally_aggregator_batches_total'),
    );
    expect(m.get('tally_log_backlog_events')).toBe(0);
    expect(m.get('tally_log_up')).toBe(1);
    // The embedded database's dedup filter: filled at start, then every id written (m1-m3).
    expect(m.get('tally_dedup_filter_ready')).toBe(1);
    expect(m.get('tally_dedup_filter_ids')).toBe(3);
    expect(m.get('tally_http_requests_total{route="/v1/events",method="POST",status="202"}')).toBe(
      2,
    );
    expect(m.get('tally_http_requests_total{route="/v1/events",method="POST",status="400"}')).toBe(
      1,
    );
    expect(
      m.get('tally_http_request_duration_seconds_count{route="/v1/events",method="POST"}'),
    ).toBe(3);
    expect(m.get('tally_process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('labels a route by its pattern, never by the path asked for', async () => {
    const s = servers[0]!;
    for (const p of ['/nope/1', '/nope/2', '/v1/sites/a', '/v1/sites/b']) {
      await fetch(`${s.url}${p}`);
    }
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toContain('route="/v1/sites/:site_id"');
    expect(text).toContain('route="unmatched"');
    expect(text).not.toMatch(/nope|route="\/v1\/sites\/a"/);
  });

  it('needs an admin key under AUTH=on', async () => {
    const s = await startServer({ AUTH: 'on' });
    servers.push(s);
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    const key = readFileSync(join(s.dataDir, 'admin.key'), 'utf8').trim();
    const m = await scrape(s, { authorization: `Bearer ${key}` });
    expect(m.get('tally_events_accepted_total')).toBe(0);
  });

  it.runIf(servicesUp)('is served by a worker on METRICS_PORT', async () => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const port = await freePort();
    const worker = await startChild(
      {
        DATABASE_URL: db.url,
        TRANSPORT: 'redis',
        REDIS_URL: TEST_REDIS_URL,
        REDIS_STREAM: `tally:metrics-test:${port}`,
        METRICS_PORT: String(port),
        LOG_LEVEL: 'info',
      },
      ['worker'],
      /tally worker is running/,
    );
    children.push(worker);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    const m = parse(await res.text());
    expect(m.get('tally_aggregator_batches_total')).toBe(0);
    expect(m.get('tally_log_up')).toBe(1);
    expect(m.has('tally_events_accepted_total')).toBe(false);
    expect(m.get('tally_db_pool_connections{state="total"}')).toBeGreaterThanOrEqual(0);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });
});
