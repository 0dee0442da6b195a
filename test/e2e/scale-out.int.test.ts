/**
 * The production topology for real: 2 API processes and 2 worker processes (child processes)
 * on one PostgreSQL and one Redis stream or Kafka topic, concurrent load, one worker killed with
 * SIGKILL midway — every acknowledged event counted exactly once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startChild, type Child } from '../helpers/child.js';
import { createTestDatabase, pgAvailable } from '../helpers/services.pg.js';
import {
  kafkaAvailable,
  redisAvailable,
  requireService,
  TEST_KAFKA_BROKERS,
  TEST_REDIS_URL,
} from '../helpers/services.js';
import { today } from '../helpers/server.js';

const children: Child[] = [];
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of children) {
    c.proc.kill('SIGKILL');
  }
  for (const d of drops) {
    await d();
  }
});

const pgUp = requireService(
  'PostgreSQL',
  await pgAvailable(),
  'it runs on 127.0.0.1:5432 on this machine',
);
const redisUp = requireService('Redis', await redisAvailable(), 'bash scripts/services.sh up');
const kafkaUp = requireService(
  'Kafka',
  await kafkaAvailable(),
  'bash scripts/kafka/kafka.sh start',
);

const BATCHES = 240;
const PER_BATCH = 25;
const LOOPS = 6;

async function send(url: string, body: string): Promise<number> {
  try {
    const r = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0;
  }
}

async function scenario(env: Record<string, string>) {
  const db = await createTestDatabase();
  drops.push(db.drop);
  const common = { ...env, DATABASE_URL: db.url, LOG_LEVEL: 'info', AGG_BATCH_MAX_EVENTS: '500' };
  const ready = /tally worker is running/;
  const workers = [
    await startChild(common, ['worker'], ready),
    await startChild(common, ['worker'], ready),
  ];
  const apis = [await startChild(common, ['api']), await startChild(common, ['api'])];
  children.push(...workers, ...apis);

  const site = `scale-${randomUUID().slice(0, 8)}`;
  let next = 0;
  let acked = 0;
  let killed = false;
  let killedAt = 0;
  await Promise.all(
    Array.from({ length: LOOPS }, async (_, loop) => {
      while (next < BATCHES) {
        const n = next++;
        const body = JSON.stringify(
          Array.from({ length: PER_BATCH }, (_, i) => ({
            event_id: `${site}-${n}-${i}`,
            type: 'page_view',
            site_id: site,
            path: `/p${n % 20}`,
            user_id: `u${(n * PER_BATCH + i) % 300}`,
          })),
        );
        // A client retries what got no 202 (same ids): at-least-once from the client side too.
        for (let attempt = 0; ; attempt++) {
          const status = await send(apis[(loop + attempt) % 2]!.url, body);
          if (status === 202) {
            break;
          }
          expect(attempt, `status ${status}`).toBeLessThan(50);
          await new Promise((r) => setTimeout(r, 200));
        }
        acked++;
        if (!killed && acked >= BATCHES / 3) {
          killed = true;
          killedAt = Date.now();
          workers[0]!.proc.kill('SIGKILL');
        }
      }
    }),
  );
  expect(killed).toBe(true);
  const expected = BATCHES * PER_BATCH;
  // The killed worker's in-flight events are taken over within 10 s of its death by default
  // (Redis: its heartbeat expires after RECLAIM_IDLE_MS; Kafka: KAFKA_SESSION_TIMEOUT_MS),
  // so everything is counted well within that of the kill or of the load's end.
  const deadline = Math.max(killedAt, Date.now()) + 25_000;
  let stats:
    | { total_views: number; unique_users: number; top_paths: { path: string; views: number }[] }
    | undefined;
  for (;;) {
    const r = await fetch(`${apis[0]!.url}/v1/stats?site_id=${site}&date=${today()}&top=100`);
    stats = (await r.json()) as typeof stats;
    if (stats!.total_views >= expected || Date.now() > deadline) {
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(
    `${env['TRANSPORT']}: all counted ${Date.now() - killedAt} ms after the kill (the load ended ${Math.round(Date.now() - deadline + 25_000)} ms before)`,
  );
  // Give a double count the chance to show up before checking.
  await new Promise((r) => setTimeout(r, 1500));
  const final = (await (
    await fetch(`${apis[1]!.url}/v1/stats?site_id=${site}&date=${today()}&top=100`)
  ).json()) as NonNullable<typeof stats>;
  expect(final.total_views).toBe(expected);
  expect(final.unique_users).toBe(300);
  expect(final.top_paths).toHaveLength(20);
  expect(final.top_paths.every((p) => p.views === expected / 20)).toBe(true);
  for (const c of [...workers.slice(1), ...apis]) {
    c.proc.kill('SIGTERM');
    expect(await c.exited, c.output()).toBe(0);
  }
}

describe.skipIf(!pgUp || !redisUp)('scale-out on Redis Streams', () => {
  it('2 APIs + 2 workers, one worker SIGKILLed midway: counts exact', async () => {
    const id = randomUUID().slice(0, 8);
    await scenario({
      TRANSPORT: 'redis',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_STREAM: `tally-test-${id}`,
      CONSUMER_GROUP: `tally-test-${id}`,
      RECLAIM_IDLE_MS: '2000',
    });
  }, 180_000);
});

describe.skipIf(!pgUp || !kafkaUp)('scale-out on Kafka', () => {
  it('2 APIs + 2 workers, one worker SIGKILLed midway: counts exact', async () => {
    const id = randomUUID().slice(0, 8);
    await scenario({
      TRANSPORT: 'kafka',
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_TOPIC: `tally-test-${id}`,
      CONSUMER_GROUP: `tally-test-${id}`,
      KAFKA_PARTITIONS: '4',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
    });
  }, 180_000);
});
