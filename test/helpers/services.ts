import { DEFAULT_SERVICES, kafkaReachable, redisReachable } from '../harness/probe.js';

/** Real services for integration tests (scripts/kafka/kafka.sh starts Kafka; Redis 7 on 6379). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? DEFAULT_SERVICES.redisUrl;
export const TEST_KAFKA_BROKERS = (process.env.TEST_KAFKA_BROKERS ?? DEFAULT_SERVICES.kafkaBrokers)
  .split(',')
  .map((b) => b.trim());

export async function redisAvailable(url = TEST_REDIS_URL): Promise<boolean> {
  return redisReachable(url);
}

export async function kafkaAvailable(brokers = TEST_KAFKA_BROKERS): Promise<boolean> {
  return kafkaReachable(brokers);
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
