/**
 * The dedup window measured from arrival, on a real embedded log and a real embedded database,
 * with the aggregator's clock moved by the test (days cannot pass in a test otherwise). Events
 * are published straight into the log with the arrival time the edge would have stamped.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createAggregator, type Aggregator } from '../../src/aggregate/aggregator.js';
import { generations } from '../../src/storage/event-ids.repo.js';
import { loadConfig } from '../../src/config.js';
import type { CanonicalEvent } from '../../src/events/event.js';
import { createLogger } from '../../src/logger.js';
import { openDb, openTransport } from '../../src/main/components.js';
import { migrate } from '../../src/storage/migrate.js';
import type { Db } from '../../src/storage/db.js';
import type { Transport } from '../../src/transport/transport.js';
import { newDataDir, waitFor } from '../helpers/server.js';

const DAY = 86_400_000;
// Ahead of the real clock: the database's current generation is today's, and only moves on.
const T0 = Date.UTC(2027, 0, 10, 12);
const gen = (ms: number) => Math.floor(ms / DAY);

interface Rig {
  db: Db;
  transport: Transport;
  clock: { now: number };
  aggregator(): Aggregator;
  /** Stops every aggregator and reopens the log, as a restart of the process does. */
  restart(): Promise<void>;
  publish(id: string, at: number): Promise<void>;
  views(): Promise<number>;
  caughtUp(): Promise<void>;
  close(): Promise<void>;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.close();
  }
});

async function rig(site: string, windowDays = 1): Promise<Rig> {
  const dir = newDataDir();
  const config = loadConfig({
    DATA_DIR: dir,
    LOG_LEVEL: 'silent',
    DEDUP_WINDOW_DAYS: String(windowDays),
  });
  const log = createLogger(config.logging);
  const db = await openDb(config);
  await migrate(db);
  const transport: Transport = await openTransport(config, log);
  const clock = { now: T0 };
  const running: Aggregator[] = [];
  const r: Rig = {
    db,
    transport,
    clock,
    aggregator() {
      const a = createAggregator(
        { db, transport: r.transport, logger: log },
        { ...config.aggregator, clock: () => clock.now, purgeEveryMs: 3_600_000 },
      );
      running.push(a);
      return a;
    },
    async restart() {
      for (const a of running.splice(0)) {
        await a.stop();
      }
      await r.transport.close();
      r.transport = await openTransport(config, log);
    },
    async publish(id, at) {
      const e: CanonicalEvent = {
        event_id: id,
        type: 'page_view',
        site_id: site,
        path: '/',
        ts: Date.UTC(2024, 1, 4, 12),
        received_at: at,
        user_id: 'u1',
      };
      await r.transport.publish([e]);
    },
    async views() {
      const q = await db.query<{ views: string }>(
        'SELECT COALESCE(SUM(views), 0)::int8 AS views FROM site_daily WHERE site_id = $1',
        [site],
      );
      return Number(q.rows[0]!.views);
    },
    async caughtUp() {
      await waitFor(() => {
        const s = r.transport.stats();
        return s.waiting === 0 && (s.bytes ?? 0) === 0;
      });
    },
    async close() {
      for (const a of running) {
        await a.stop();
      }
      await r.transport.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  rigs.push(r);
  return r;
}

describe('dedup by arrival', () => {
  it('a resend within the window counts once; a resend after it counts again; old generations are dropped whole', async () => {
    const r = await rig('window');
    const a = r.aggregator();
    await a.start();
    await r.publish('x', T0);
    await r.caughtUp();
    r.clock.now = T0 + DAY / 2;
    await r.publish('x', r.clock.now);
    await r.caughtUp();
    expect(await r.views()).toBe(1);

    // The next day the maintenance (every minute in service) starts a new generation, and
    // reports the batches applied since the last one: generation T0 is still within reach.
    r.clock.now = T0 + DAY;
    await a.maintain();
    expect((await generations(r.db)).all).toContain(gen(T0));
    // Three days on the log is empty: the horizon is now, past the window of generation T0
    // (it ended when T0 + 1 day began).
    r.clock.now = T0 + 3 * DAY;
    await a.maintain();
    expect(await generations(r.db)).toEqual({
      current: gen(T0 + 3 * DAY),
      all: [gen(T0 + DAY), gen(T0 + 3 * DAY)],
    });

    await r.publish('x', r.clock.now);
    await r.caughtUp();
    expect(await r.views()).toBe(2);
  });

  it('a copy that waited in the log past the window is still recognised, and the generations it needs are kept until it is applied', async () => {
    const r = await rig('backlog');
    const a = r.aggregator();
    await a.start();
    await r.publish('y', T0);
    await r.caughtUp();
    expect(await r.views()).toBe(1);
    await r.restart();

    // An outage: a copy sent half a day later waits in the log while days go by.
    r.clock.now = T0 + DAY / 2;
    await r.publish('y', r.clock.now);
    r.clock.now = T0 + 5 * DAY;
    await r.publish('z', r.clock.now);

    await r.restart();
    // Maintenance before the backlog is read: this worker holds nothing yet and the log is not
    // empty, so it says nothing, and no generation is dropped on the clock's word alone.
    const b = r.aggregator();
    await b.maintain();
    expect((await generations(r.db)).all).toContain(gen(T0));

    await b.start();
    await r.caughtUp();
    expect(await r.views()).toBe(2); // y once, z once
    await b.maintain(); // reports the copy of T0 + 12 h it applied: gen(T0) still needed
    expect((await generations(r.db)).all).toContain(gen(T0));
    await b.maintain(); // caught up: now, but generation T0 was written until T0 + 5 days
    expect((await generations(r.db)).all).toContain(gen(T0));
    r.clock.now = T0 + 7 * DAY;
    await b.maintain();
    await b.maintain();
    expect((await generations(r.db)).all).not.toContain(gen(T0));
    const drops = await r.db.query<{ events: string }>(
      "SELECT SUM(events)::int8 AS events FROM drop_ledger WHERE reason = 'duplicate'",
    );
    expect(Number(drops.rows[0]!.events)).toBe(1);
  });

  it('copies with different arrivals within the window, in one batch and across batches, count once', async () => {
    const r = await rig('concurrent');
    const a = r.aggregator();
    await a.start();
    // One publish of many copies of a few ids, arrivals spread over the window.
    const events: CanonicalEvent[] = [];
    for (let i = 0; i < 200; i++) {
      events.push({
        event_id: `c-${i % 20}`,
        type: 'page_view',
        site_id: 'concurrent',
        ts: T0,
        received_at: T0 - (i % 7) * 3_600_000,
      });
    }
    await r.transport.publish(events.slice(0, 100));
    await r.caughtUp();
    await r.transport.publish(events.slice(100));
    await r.caughtUp();
    expect(await r.views()).toBe(20);
  });

  it('a generation lasts the window: a resend across its boundary counts once, and at most three are kept', async () => {
    const r = await rig('weekly', 7);
    const a = r.aggregator();
    await a.start();
    const counts: number[] = [];
    // Three weeks of days, the maintenance run each day; every day a new event and a resend of
    // the one of six days before (within the window, often in the previous generation).
    for (let d = 0; d < 21; d++) {
      r.clock.now = T0 + d * DAY;
      await a.maintain();
      await a.maintain();
      await r.publish(`w-${d}`, r.clock.now);
      if (d >= 6) {
        await r.publish(`w-${d - 6}`, r.clock.now + 1000);
      }
      await r.caughtUp();
      counts.push((await generations(r.db)).all.length);
    }
    expect(await r.views()).toBe(21);
    expect(Math.max(...counts)).toBeLessThanOrEqual(3);
    const g = await generations(r.db);
    expect(g.all.every((x, i) => i === 0 || x - g.all[i - 1]! >= 7)).toBe(true);
  });
});
