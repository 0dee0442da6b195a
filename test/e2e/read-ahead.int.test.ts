/**
 * The embedded log reads the next batch ahead and the aggregator prepares it (derivation,
 * rollup sums, the visitor rows to send) while the database applies the batch before it. What
 * was prepared assumes every event is new and knows only the visitors committed before it: this
 * checks on a real log and a real embedded database that the counts stay exact when that is not
 * so, with a backlog of small batches full of ids and visitors that earlier batches hold.
 */
import { rmSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { createAggregator } from '../../src/aggregate/aggregator.js';
import { loadConfig } from '../../src/config.js';
import type { CanonicalEvent } from '../../src/events/event.js';
import { createLogger } from '../../src/logger.js';
import { openDb, openTransport } from '../../src/main/components.js';
import { migrate } from '../../src/storage/migrate.js';
import { newDataDir, waitFor } from '../helpers/server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) {
    await c();
  }
});

it('a backlog applied with read-ahead counts every event and visitor exactly once', async () => {
  const dir = newDataDir();
  const config = loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent', AGG_BATCH_MAX_EVENTS: '40' });
  const log = createLogger(config.logging);
  const db = await openDb(config);
  await migrate(db);
  const transport = await openTransport(config, log);
  cleanups.push(async () => {
    await transport.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const now = Date.now();
  const day = new Date(now).toISOString().slice(0, 10);
  // 30 records of 20 events: ids repeat across records (1 in 4 is an earlier record's id) and
  // 12 visitors come back in every batch; a few anonymous ones too.
  const ids = new Set<string>();
  const users = new Set<string>();
  let sent = 0;
  for (let r = 0; r < 30; r++) {
    const events: CanonicalEvent[] = [];
    for (let j = 0; j < 20; j++) {
      const id = j % 4 === 0 && r > 0 ? `e${r - 1}-${j + 1}` : `e${r}-${j}`;
      const anonymous = j % 5 === 0;
      const user = anonymous ? `anon${(r * 20 + j) % 7}` : `u${(r * 20 + j) % 12}`;
      ids.add(id);
      users.add(anonymous ? `h:${user}` : `u:${user}`);
      events.push({
        event_id: id,
        type: 'page_view',
        site_id: 'ahead',
        path: `/p${j % 3}`,
        ts: now,
        received_at: now,
        ...(anonymous ? { vh: user } : { user_id: user }),
      });
      sent++;
    }
    await transport.publish(events);
  }
  const agg = createAggregator({ db, transport, logger: log }, config.aggregator);
  await agg.start();
  cleanups.unshift(() => agg.stop());
  await waitFor(() => transport.stats().waiting === 0);
  await waitFor(async () => agg.stats().counted === ids.size);

  const one = async (sql: string) =>
    Number(
      Object.values((await db.query<Record<string, string>>(sql, ['ahead'])).rows[0] ?? {})[0] ?? 0,
    );
  expect(agg.stats().batches).toBeGreaterThan(10);
  // Most batches were prepared while the one before them was in its transaction.
  expect(agg.stats().preparedAhead).toBeGreaterThan(agg.stats().batches / 2);
  expect(await one('SELECT SUM(views)::int8 FROM site_daily WHERE site_id = $1')).toBe(ids.size);
  expect(await one('SELECT SUM(views)::int8 FROM site_daily_paths WHERE site_id = $1')).toBe(
    ids.size,
  );
  expect(
    await one('SELECT count(DISTINCT user_key)::int8 FROM site_daily_users WHERE site_id = $1'),
  ).toBe(users.size);
  // Anonymous visitors are counted as their rows go in: a row sent again is not counted again.
  expect(await one('SELECT SUM(visitors)::int8 FROM site_daily_anon WHERE site_id = $1')).toBe(
    [...users].filter((u) => u.startsWith('h:')).length,
  );
  const dups = await db.query<{ events: string }>(
    "SELECT events FROM drop_ledger WHERE reason = 'duplicate' AND day = $1::date",
    [day],
  );
  expect(Number(dups.rows[0]?.events ?? 0)).toBe(sent - ids.size);
});
