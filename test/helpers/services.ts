import { createConnection } from 'node:net';

/** Real services for integration tests (scripts/kafka/kafka.sh starts Kafka; Redis 7 on 6379). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_KAFKA_BROKERS = (process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:9092')
  .split(',')
  .map((b) => b.trim());

/** Sends `send` to host:port and resolves whether the reply starts with `expect` (or, without `send`, whether it connects). */
function probe(
  host: string,
  port: number,
  send?: string,
  expect?: string,
  timeoutMs = 1500,
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
      socket.once('data', (d) => done(d.toString().startsWith(expect ?? '')));
    });
  });
}

export async function redisAvailable(url = TEST_REDIS_URL): Promise<boolean> {
  const u = new URL(url);
  return probe(u.hostname, Number(u.port || 6379), 'PING\r\n', '+PONG');
}

export async function kafkaAvailable(brokers = TEST_KAFKA_BROKERS): Promise<boolean> {
  const [host = '127.0.0.1', port = '9092'] = (brokers[0] ?? '').split(':');
  return probe(host, Number(port));
}

/**
 * Whether a suite that needs `service` runs. Under CI=true a suite never skips: an unreachable
 * service fails the file. Locally the suite is skipped and the reason printed.
 */
export function requireService(service: string, available: boolean, howToStart: string): boolean {
  if (available) {
    return true;
  }
  const reason = `${service} is unreachable (${howToStart})`;
  if (process.env.CI === 'true') {
    throw new Error(`${reason}; CI=true: integration suites never skip`);
  }
  console.warn(`SKIPPED: ${reason} — these tests did not run`);
  return false;
}
