import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createDatabase, throwawayName } from '../../test/harness/databases.js';
import { waitReady } from '../../test/harness/ready.js';
import { type Child, freePort, spawnTally, stopChild } from '../../test/harness/spawn.js';
import type { TopologyName } from './options.js';
import { SERVICES, deleteKafkaTopic, deleteRedisStream, ensureServices } from './services.js';

/** Tally running in one topology: where to send requests, its processes, how to tear it down. */
export interface Topology {
  name: string;
  url: string;
  children: Child[];
  startupS: number;
  /** Graceful stop of every process, then removal of its data dir, database, stream or topic. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Unique per start: names the data dir, database, stream, topic and consumer group. */
  tag: string;
  oneProcess: boolean;
  /** Parent of the data dirs: on the disk under test (a tmpfs would make fsync free). */
  dataRoot: string;
  profileDir?: string;
  /** Extra environment for Tally (e.g. a small backlog bound for the overload phase). */
  env?: Record<string, string>;
}

/** How long a topology may take to answer /ready. */
const READY_TIMEOUT_MS = 180_000;

/** `tally <args>`, keeping only the tail of its output (for error messages) over a long run. */
const tally = (args: string[], env: Record<string, string>, profileDir?: string) =>
  spawnTally(args, { env, profileDir, keepChars: 4000 });

export async function startTopology(name: TopologyName, o: StartOptions): Promise<Topology> {
  switch (name) {
    case 'embedded':
      return startServe(name, o, {});
    case 'pg':
      return withDatabase(o.tag, (databaseUrl) =>
        startServe(name, o, { DATABASE_URL: databaseUrl }),
      );
    case 'redis':
    case 'kafka':
      return startOnBroker(name, o);
  }
}

/** `tally serve`: API and aggregator in one process, on the embedded log unless `env` says otherwise. */
async function startServe(
  name: string,
  o: StartOptions,
  env: Record<string, string>,
): Promise<Topology> {
  const dataDir = freshDir(o);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const serve = tally(['serve'], { ...baseEnv(dataDir, port), ...env, ...o.env }, o.profileDir);
  const stop = async () => {
    await stopChild(serve);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitReady([serve], { url }, { timeoutMs: READY_TIMEOUT_MS });
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, url, children: [serve], startupS: (performance.now() - t0) / 1000, stop };
}

/** `tally api` + `tally worker` on Redis Streams or Kafka, storing into a PostgreSQL server. */
async function startOnBroker(name: 'redis' | 'kafka', o: StartOptions): Promise<Topology> {
  await ensureServices({ postgres: true, redis: name === 'redis', kafka: name === 'kafka' });
  const stream = `tally-bench-${o.tag}`;
  const brokerEnv: Record<string, string> =
    name === 'redis'
      ? {
          TRANSPORT: 'redis',
          REDIS_URL: SERVICES.redisUrl,
          REDIS_STREAM: stream,
          CONSUMER_GROUP: stream,
        }
      : {
          TRANSPORT: 'kafka',
          KAFKA_BROKERS: SERVICES.kafkaBrokers,
          KAFKA_TOPIC: stream,
          CONSUMER_GROUP: stream,
        };
  const cleanupBroker = () =>
    (name === 'redis' ? deleteRedisStream(stream) : deleteKafkaTopic(stream)).catch(
      (err: unknown) => {
        process.stderr.write(
          `bench: could not delete ${name} ${stream}: ${(err as Error).message}\n`,
        );
      },
    );
  if (o.oneProcess) {
    const t = await withDatabase(o.tag, (databaseUrl) =>
      startServe(`${name} (one process)`, o, { ...brokerEnv, DATABASE_URL: databaseUrl }),
    );
    return { ...t, stop: () => t.stop().finally(cleanupBroker) };
  }
  return withDatabase(o.tag, async (databaseUrl) => {
    const dataDir = freshDir(o);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      ...baseEnv(dataDir, port),
      ...brokerEnv,
      DATABASE_URL: databaseUrl,
      VISITOR_SALT: 'bench-visitor-salt-0123456789',
      ...o.env,
    };
    const t0 = performance.now();
    // Migrate first, so api and worker do not race for the advisory lock at start-up.
    const migrate = tally(['migrate'], env);
    if ((await migrate.exited) !== 0) {
      throw new Error(`tally migrate failed:\n${migrate.output()}`);
    }
    const worker = tally(['worker'], env, o.profileDir);
    const api = tally(['api'], env, o.profileDir);
    const children = [api, worker];
    // The api stops first (no new events), then the worker drains what is in the log.
    const stop = async () => {
      await stopChild(api);
      await stopChild(worker);
      rmSync(dataDir, { recursive: true, force: true });
      await cleanupBroker();
    };
    try {
      await waitReady(children, { url }, { timeoutMs: READY_TIMEOUT_MS });
    } catch (err) {
      await stop();
      throw err;
    }
    return { name, url, children, startupS: (performance.now() - t0) / 1000, stop };
  });
}

/** Runs `start` with a fresh database; the topology's stop() drops it (so does a failed start). */
async function withDatabase(
  tag: string,
  start: (databaseUrl: string) => Promise<Topology>,
): Promise<Topology> {
  await ensureServices({ postgres: true });
  const db = await createDatabase(SERVICES.pgAdminUrl, throwawayName('bench', tag));
  const drop = () =>
    db.drop().catch((err: unknown) => {
      process.stderr.write(
        `bench: could not drop database ${db.name}: ${(err as Error).message}\n`,
      );
    });
  try {
    const t = await start(db.url);
    return { ...t, stop: () => t.stop().finally(drop) };
  } catch (err) {
    await drop();
    throw err;
  }
}

function freshDir(o: StartOptions): string {
  mkdirSync(o.dataRoot, { recursive: true });
  return mkdtempSync(join(o.dataRoot, `${o.tag}-`));
}

function baseEnv(dataDir: string, port: number): Record<string, string> {
  // Explicit defaults, so a DATABASE_URL or TRANSPORT in the caller's environment does not leak in.
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    TRANSPORT: 'embedded',
    DATABASE_URL: '',
  };
}
