import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { REPO_ROOT } from './procs.js';

/** The servers the split topologies use (the same defaults as the test suites). */
export const SERVICES = {
  pgAdminUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  kafkaBrokers: process.env.BENCH_KAFKA_BROKERS ?? '127.0.0.1:9092',
};

/** `postgres://…/<db>` on the same server as the admin URL. */
export function pgUrl(db: string): string {
  const u = new URL(SERVICES.pgAdminUrl);
  u.pathname = `/${db}`;
  return u.toString();
}

async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: SERVICES.pgAdminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A throw-away database; names are generated here, never taken from input. */
export async function createDatabase(name: string): Promise<string> {
  if (!/^tally_bench_[a-z0-9_]+$/.test(name)) {
    throw new Error(`refusing database name ${name}`);
  }
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  return pgUrl(name);
}

export async function dropDatabase(name: string): Promise<void> {
  if (!/^tally_bench_[a-z0-9_]+$/.test(name)) {
    throw new Error(`refusing database name ${name}`);
  }
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

export async function postgresVersion(): Promise<string | undefined> {
  return withAdmin(
    async (c) =>
      (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v,
  ).catch(() => undefined);
}

export function reachable(hostPort: string, timeoutMs = 1000): Promise<boolean> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const sock = connect({ host: host ?? '127.0.0.1', port: Number(port) });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const hostPortOf = (url: string) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
};

/** Checks the servers a topology needs; starts the repo's Kafka broker when it is not running. */
export async function ensureServices(needs: {
  postgres?: boolean;
  redis?: boolean;
  kafka?: boolean;
}): Promise<void> {
  if (needs.postgres && !(await reachable(hostPortOf(SERVICES.pgAdminUrl)))) {
    throw new Error(
      `PostgreSQL is not reachable at ${SERVICES.pgAdminUrl} (scripts/services.sh up)`,
    );
  }
  if (needs.redis && !(await reachable(hostPortOf(SERVICES.redisUrl)))) {
    throw new Error(`Redis is not reachable at ${SERVICES.redisUrl} (scripts/services.sh up)`);
  }
  const broker = SERVICES.kafkaBrokers.split(',')[0]!;
  if (needs.kafka && !(await reachable(broker))) {
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
