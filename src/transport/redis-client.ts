import { createClient } from 'redis';
import type { Logger } from '../logger.js';

export type RedisClient = ReturnType<typeof createClient>;

/**
 * A client that never queues commands while disconnected (they fail at once, so the API can
 * answer 503 instead of hanging) and reconnects by itself, forever, at most 200 ms apart.
 * Connection loss is logged once per outage, not once per attempt.
 */
export function createRedisClient(url: string, logger: Logger, role: string): RedisClient {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      // Every 50–200 ms: a refused connection costs nothing, and ingest must accept again
      // within 500 ms of Redis coming back (a doubling backoff capped at 2 s took up to 3 s).
      reconnectStrategy: (retries) => Math.min(50 * (retries + 1), 200),
    },
  });
  watch(client, logger, role);
  return client;
}

export function watch(client: RedisClient, logger: Logger, role: string): void {
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) {
      down = true;
      logger.warn({ role, err: err.message }, 'redis connection lost; reconnecting');
    }
  });
  client.on('ready', () => {
    if (down) {
      down = false;
      logger.info({ role }, 'redis connection restored');
    }
  });
}

/** Starts connecting in the background (it retries until ready or destroyed). */
export function connectInBackground(client: RedisClient): Promise<void> {
  return client.connect().then(
    () => undefined,
    () => undefined,
  );
}

/** Closes gracefully when connected, else drops the socket and stops reconnecting. */
export async function closeClient(client: RedisClient): Promise<void> {
  if (!client.isOpen) {
    return;
  }
  if (client.isReady) {
    await client.close().catch(() => client.destroy());
  } else {
    client.destroy();
  }
}
