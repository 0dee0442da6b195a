/** Exactly-once through real HTTP: duplicates in a batch, across batches and across a restart. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, get, post, startServer, today, type TestServer } from '../helpers/server.js';

let s: TestServer;
const views = async (site: string) =>
  (await get(`${s.url}/v1/stats?site_id=${site}&date=${today()}`)).body;
const pv = (id: string, site: string, path = '/') => ({
  event_id: id,
  type: 'page_view',
  site_id: site,
  path,
  user_id: id,
});

beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

describe('exactly once', () => {
  it('counts the same event twice in one batch once', async () => {
    const r = await post(`${s.url}/v1/events`, [
      pv('dup-1', 'eo1'),
      pv('dup-1', 'eo1'),
      pv('dup-2', 'eo1'),
    ]);
    expect(r.status).toBe(202);
    await caughtUp(s);
    expect(await views('eo1')).toMatchObject({ total_views: 2, unique_users: 2 });
  });

  it('counts the same event in two batches once', async () => {
    await post(`${s.url}/v1/events`, [pv('two-1', 'eo2'), pv('two-2', 'eo2')]);
    await caughtUp(s);
    // Part seen, part new: the aggregator must tell which rows its own transaction wrote.
    await post(`${s.url}/v1/events`, [pv('two-2', 'eo2'), pv('two-3', 'eo2')]);
    await caughtUp(s);
    expect(await views('eo2')).toMatchObject({ total_views: 3 });
    // All seen: the row count alone says so.
    await post(`${s.url}/v1/events`, [pv('two-3', 'eo2'), pv('two-1', 'eo2')]);
    await caughtUp(s);
    expect(await views('eo2')).toMatchObject({ total_views: 3, unique_users: 3 });
    const drops = (await get(`${s.url}/v1/drops`)).body.drops;
    expect(drops.duplicate).toBe(4); // one in the first test's batch, three here
  });

  it('counts the same event again after a restart once, and drains the log on shutdown', async () => {
    await post(`${s.url}/v1/events`, [pv('rs-1', 'eo3'), pv('rs-2', 'eo3')]);
    await s.close({ keepData: true });
    s = await startServer({}, s.dataDir);
    expect(await views('eo3')).toMatchObject({ total_views: 2 });
    await post(`${s.url}/v1/events`, [pv('rs-1', 'eo3'), pv('rs-2', 'eo3'), pv('rs-3', 'eo3')]);
    await caughtUp(s);
    expect(await views('eo3')).toMatchObject({ total_views: 3, unique_users: 3 });
  });

  it('shows an acknowledged event in reports within a second under light load', async () => {
    const t0 = Date.now();
    await post(`${s.url}/v1/events`, pv('fast-1', 'eo4'));
    for (;;) {
      if ((await views('eo4')).total_views === 1) {
        break;
      }
      expect(Date.now() - t0).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});

describe('unprocessable events', () => {
  it('go to the dead-letter table with the reason and never block the events behind them', async () => {
    const now = Date.now();
    await s.running.transport.publish([
      { event_id: 'poison-1', type: 'NOT A TYPE', ts: now, received_at: now },
      {
        event_id: 'behind-1',
        type: 'page_view',
        site_id: 'dlq',
        path: '/ok',
        ts: now,
        received_at: now,
      },
    ]);
    await caughtUp(s);
    expect(await views('dlq')).toMatchObject({ total_views: 1 });
    const dl = (await get(`${s.url}/v1/dead-letters`)).body;
    expect(dl.total).toBe(1);
    expect(dl.items[0]).toMatchObject({ event_id: 'poison-1', reason: 'bad type' });
    expect(JSON.parse(dl.items[0].payload)).toMatchObject({ type: 'NOT A TYPE' });
  });

  it('a row the database refuses is isolated by bisection and dead-lettered; the rest of the batch counts', async () => {
    // A constraint stands in for any data error PostgreSQL may raise on one row.
    await s.running.db.query(
      "ALTER TABLE site_daily_paths ADD CONSTRAINT test_no_poison CHECK (path <> '/poison')",
    );
    try {
      const now = Date.now();
      const events = Array.from({ length: 9 }, (_, i) => ({
        event_id: `bis-${i}`,
        type: 'page_view',
        site_id: 'bisect',
        path: i === 6 ? '/poison' : '/fine',
        ts: now,
        received_at: now,
      }));
      await s.running.transport.publish(events);
      await caughtUp(s);
      expect(await views('bisect')).toMatchObject({
        total_views: 8,
        top_paths: [{ path: '/fine', views: 8 }],
      });
      const dl = (await get(`${s.url}/v1/dead-letters`)).body;
      expect(dl.items[0].event_id).toBe('bis-6');
      expect(dl.items[0].reason).toMatch(/storage rejected the event: .*test_no_poison/);
      expect((await get(`${s.url}/v1/drops`)).body.drops.dead_letter).toBe(2);
    } finally {
      await s.running.db.query('ALTER TABLE site_daily_paths DROP CONSTRAINT test_no_poison');
    }
  });

  it('an event of 2024 sent twice, and again after a restart, counts once in its own day', async () => {
    const event = {
      event_id: 'old-resent-1',
      type: 'page_view',
      site_id: 'old-resent',
      path: '/2024',
      ts: '2024-02-04T12:00:00Z',
    };
    expect((await post(`${s.url}/v1/events`, event)).status).toBe(202);
    expect((await post(`${s.url}/v1/events`, [event, event])).status).toBe(202);
    await s.close({ keepData: true });
    s = await startServer({}, s.dataDir);
    expect((await post(`${s.url}/v1/events`, event)).status).toBe(202);
    await caughtUp(s);
    const r = await get(`${s.url}/v1/stats?site_id=old-resent&from=2024-02-04&to=2024-02-04`);
    expect(r.body).toMatchObject({ total_views: 1, top_paths: [{ path: '/2024', views: 1 }] });
  });
});
