import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { withClient } from '../../test/harness/databases.js';
import {
  DEFAULT_SERVICES,
  kafkaReachable,
  postgresReachable,
  redisReachable,
} from '../../test/harness/probe.js';
import { REPO_ROOT } from '../../test/harness/spawn.js';

/** The servers the split topologies use (the same defaults as the test suites). */
export const SERVICES = {
  pgAdminUrl: process.env.BENCH_PG_URL ?? DEFAULT_SERVICES.pgAdminUrl,
  redisUrl: process.env.BENCH_REDIS_URL ?? DEFAULT_SERVICES.redisUrl,
  kafkaBrokers: process.env.BENCH_KAFKA_BROKERS ?? DEFAULT_SERVICES.kafkaBrokers,
};

export async function postgresVersion(): Promise<string | undefined> {
  return withClient(
    { connectionString: SERVICES.pgAdminUrl },
    async (c) =>
      (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v,
  ).catch(() => undefined);
}

/** Checks the servers a topology needs; starts the repo's Kafka broker when it is not running. */
export async function ensureServices(needs: {
  postgres?: boolean;
  redis?: boolean;
  kafka?: boolean;
}): Promise<void> {
  if (needs.postgres && !(await postgresReachable(SERVICES.pgAdminUrl))) {
    throw new Error(
      `PostgreSQL is not reachable at ${SERVICES.pgAdminUrl} (scripts/services.sh up)`,
    );
  }
  if (needs.redis && !(await redisReachable(SERVICES.redisUrl))) {
    throw new Error(`Redis is not reachable at ${SERVICES.redisUrl} (scripts/services.sh up)`);
  }
  if (needs.kafka && !(await kafkaReachable(SERVICES.kafkaBrokers))) {
    process.stderr.write('bench: starting Kafka (scripts/kafka/kafka.sh start)\n');
    await promisify(execFile)('bash', [`${REPO_ROOT}scripts/kafka/kafka.sh`, 'start'], {
      timeout: 300_000,
    });
  }
}

export async function deleteRedisStream(stream: string): Promise<void> {
  const { createClient } = await import('redis');
  const client = createClient({ url: SERVICES.redisUrl });
  await client.connect();
  try {
    await client.del(stream);
  } finally {
    await client.close();
  }
}

export async function redisVersion(): Promise<string | undefined> {
  try {
    const { createClient } = await import('redis');
    const client = createClient({ url: SERVICES.redisUrl });
    await client.connect();
    const info = await client.info('server');
    await client.close();
    return /redis_version:(\S+)/.exec(info)?.[1];
  } catch {
    return undefined;
  }
}

export async function deleteKafkaTopic(topic: string): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({
    brokers: SERVICES.kafkaBrokers.split(','),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}

/** The broker version of the repo's Kafka (scripts/kafka/kafka.sh), from its jar names. */
export function kafkaVersion(): string | undefined {
  try {
    const jar = readdirSync(`${REPO_ROOT}.kafka/libs`).find((f) =>
      /^kafka-clients-[\d.]+\.jar$/.test(f),
    );
    return jar?.replace(/^kafka-clients-|\.jar$/g, '');
  } catch {
    return undefined;
  }
}
