/**
 * Whether the real services are there (docker-compose.yml, scripts/services.sh,
 * scripts/kafka/kafka.sh), and where they are by default. Each probe answers true or false and
 * never throws: what to do about a missing service is the caller's rule.
 */
import { createConnection } from 'node:net';
import { withClient } from './databases.js';

/** The servers on this machine, for tests (TEST_*) and the benchmark (BENCH_*) alike. */
export const DEFAULT_SERVICES = {
  pgAdminUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: 'redis://127.0.0.1:6379',
  kafkaBrokers: '127.0.0.1:9092',
} as const;

/**
 * Connects to host:port; without `send`, resolves whether it connected, with `send`, whether the
 * first reply starts with `expect`.
 */
export function tcpProbe(
  host: string,
  port: number,
  {
    send,
    expect = '',
    timeoutMs = 1500,
  }: { send?: string; expect?: string; timeoutMs?: number } = {},
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      if (send === undefined) {
        done(true);
        return;
      }
      socket.write(send);
      socket.once('data', (d) => done(d.toString().startsWith(expect)));
    });
  });
}

/** A login and `SELECT 1`, not only an open port. */
export async function postgresReachable(url: string, timeoutMs = 2000): Promise<boolean> {
  return withClient({ connectionString: url, connectionTimeoutMillis: timeoutMs }, async (c) => {
    await c.query('SELECT 1');
    return true;
  }).catch(() => false);
}

/** `PING` answered `+PONG`. */
export async function redisReachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return tcpProbe(u.hostname, Number(u.port || 6379), { send: 'PING\r\n', expect: '+PONG' });
}

/** The first broker of `brokers` (`host:port`, comma-separated or a list) accepts a connection. */
export async function kafkaReachable(brokers: string | readonly string[]): Promise<boolean> {
  const list = typeof brokers === 'string' ? brokers.split(',') : brokers;
  const [host = '127.0.0.1', port = '9092'] = (list[0] ?? '').trim().split(':');
  return tcpProbe(host, Number(port));
}
