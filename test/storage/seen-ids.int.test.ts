/**
 * The embedded database's dedup filter (src/storage/seen-ids.ts), on a real embedded database:
 * filled from the table it answers "surely new" for no id the table holds, and few false
 * positives; an id written behind its back turns it off and the batch is applied again with
 * every id checked; an aggregator started on a database with rows fills it from them and still
 * counts every copy once.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createAggregator } from '../../src/aggregate/aggregator.js';
import { loadConfig } from '../../src/config.js';
import type { CanonicalEvent } from '../../src/events/event.js';
import { createLogger } from '../../src/logger.js';
import { openDb, openTransport } from '../../src/main/components.js';
import { isRetriableDbError, type Db } from '../../src/storage/db.js';
import { generations, insertEventIds } from '../../src/storage/event-ids.repo.js';
import { migrate } from '../../src/storage/migrate.js';
import { SeenIds } from '../../src/storage/seen-ids.js';
import { newDataDir, waitFor } from '../helpers/server.js';

const WINDOW_MS = 7 * 86_400_000;
const log = createLogger(loadConfig({ LOG_LEVEL: 'silent' }).logging);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) {
    await c();
  }
});

async function freshDb(): Promise<{ db: Db; dir: string }> {
  const dir = newDataDir();
  const db = await openDb(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }));
  await migrate(db);
  cleanups.push(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, dir };
}

const ev = (id: string, now = Date.now()): CanonicalEvent => ({
  event_id: id,
  type: 'page_view',
  site_id: 'seen',
  path: '/',
  ts: now,
  received_at: now,
});

const insert = (db: Db, ids: string[], seen?: SeenIds) =>
  db.transaction(async (tx) =>
    (
      await insertEventIds(
        tx,
        ids.map((id) => ev(id)),
        WINDOW_MS,
        { seen },
      )
    ).map((e) => e.event_id),
  );

const range = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

describe('the dedup filter', () => {
  it('filled from the table, holds every id written and few others', async () => {
    const { db } = await freshDb();
    for (let i = 0; i < 30_000; i += 5_000) {
      await insert(db, range('old-', i, i + 5_000));
    }
    const seen = new SeenIds();
    expect(seen.mayHold('anything')).toBe(true); // not filled: it answers nothing
    await seen.fill(db, log, { page: 7_000 }); // in pages, the last one short
    expect(seen.ready).toBe(true);
    expect(seen.size).toBe(30_000);
    expect(range('old-', 0, 30_000).every((id) => seen.mayHold(id))).toBe(true);
    const others = range('other-', 0, 100_000).filter((id) => seen.mayHold(id)).length;
    expect(others).toBeLessThan(1_000); // under 1 % (about 0.3 % at a block's capacity)

    // Past a block's capacity (65,536) it grows, and still misses none.
    const many = range('many-', 0, 200_000);
    const gen = (await generations(db)).current;
    for (const id of many) {
      seen.add(gen, id);
    }
    expect(many.every((id) => seen.mayHold(id))).toBe(true);
    expect(range('none-', 0, 100_000).filter((id) => seen.mayHold(id)).length).toBeLessThan(2_000);

    // A dropped generation's ids are forgotten.
    seen.forget([gen]);
    expect(seen.size).toBe(0);
    expect(range('old-', 0, 10_000).filter((id) => seen.mayHold(id))).toEqual([]);
  });

  it('with it, a batch writes the new ids and returns them, duplicates left out', async () => {
    const { db } = await freshDb();
    const seen = new SeenIds();
    await seen.fill(db, log);
    expect(await insert(db, range('a', 0, 100), seen)).toHaveLength(100);
    // Half seen before (the filter holds them: checked), half new (surely new: plain insert).
    const second = await insert(db, range('a', 50, 150), seen);
    expect(second.sort()).toEqual(range('a', 100, 150).sort());
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM event_ids');
    expect(Number(rows.rows[0]!.n)).toBe(150);
  });

  it('an id written behind its back turns it off, and the retry checks every id', async () => {
    const { db } = await freshDb();
    const seen = new SeenIds();
    await seen.fill(db, log);
    await insert(db, range('b', 0, 10), seen);
    // Another writer (one the filter cannot see) writes b10 into the current generation.
    const gen = (await generations(db)).current;
    await db.query(
      `INSERT INTO event_ids_g${gen} (gen, event_id, received_ms) VALUES ($1, 'b10', $2)`,
      [gen, Date.now()],
    );
    expect(seen.mayHold('b10')).toBe(false);
    const err = await insert(db, range('b', 5, 20), seen).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/dedup filter did not hold/);
    expect(isRetriableDbError(err)).toBe(true); // the batch is applied again, not dead-lettered
    expect(seen.ready).toBe(false);
    // The transaction rolled back; applied again, every id is checked: b10 was there already.
    const again = await insert(db, range('b', 5, 20), seen);
    expect(again.sort()).toEqual(range('b', 11, 20).sort());
  });
});

it('an aggregator started on a database with rows fills the filter from them and counts copies once', async () => {
  const dir = newDataDir();
  const config = loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent', AGG_BATCH_MAX_WAIT_MS: '10' });
  const logger = createLogger(config.logging);
  const db = await openDb(config);
  await migrate(db);
  let transport = await openTransport(config, logger);
  cleanups.push(async () => {
    await transport.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const first = createAggregator({ db, transport, logger }, config.aggregator);
  await first.start();
  await transport.publish(range('c', 0, 300).map((id) => ev(id)));
  await waitFor(() => first.stats().counted === 300);
  expect(first.stats().dedupFilter).toEqual({ ready: true, ids: 300 });
  await first.stop();
  await transport.close();
  transport = await openTransport(config, logger);

  // A new process: its filter starts empty and is filled from the table.
  const second = createAggregator({ db, transport, logger }, config.aggregator);
  await second.start();
  cleanups.unshift(() => second.stop());
  await waitFor(() => second.stats().dedupFilter?.ready === true);
  expect(second.stats().dedupFilter?.ids).toBe(300);
  await transport.publish(range('c', 200, 500).map((id) => ev(id)));
  await waitFor(() => second.stats().counted + second.stats().duplicates === 300);
  expect(second.stats()).toMatchObject({ counted: 200, duplicates: 100 });
  const views = await db.query<{ v: string }>(
    "SELECT SUM(views)::int8 AS v FROM site_daily WHERE site_id = 'seen'",
  );
  expect(Number(views.rows[0]!.v)).toBe(500);
  expect(second.stats().dedupFilter).toEqual({ ready: true, ids: 500 });
});
