import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createEmbeddedLog, EMBEDDED_TRAITS } from './embedded-log/embedded-log.js';
import { BROKER_TRAITS, type Transport, type TransportTraits } from './transport.js';

/** The traits of the log TRANSPORT names, known before it is opened (the database is first). */
export function traitsOf(kind: Config['transport']['kind']): TransportTraits {
  return kind === 'embedded' ? EMBEDDED_TRAITS : BROKER_TRAITS;
}

/** The one place that picks a transport (TRANSPORT=embedded|redis|kafka). */
export async function createTransport(
  config: Config['transport'],
  logger: Logger,
): Promise<Transport> {
  const child = logger.child({ component: 'event-log', transport: config.kind });
  switch (config.kind) {
    case 'embedded':
      return createEmbeddedLog(
        {
          dir: config.dir,
          segmentBytes: config.segmentBytes,
          maxPendingBytes: config.maxPendingBytes,
          maxUnconsumedBytes: config.maxUnconsumedBytes,
          diskReserveBytes: config.diskReserveBytes,
        },
        child,
      );
    case 'redis':
      if (!config.redisUrl) {
        throw new Error('TRANSPORT=redis needs REDIS_URL');
      }
      // The Redis client is loaded only when Redis is the log (about 4 MB of heap otherwise).
      const { createRedisStreams } = await import('./redis-streams.js');
      return createRedisStreams(
        {
          url: config.redisUrl,
          stream: config.redisStream,
          group: config.consumerGroup,
          reclaimIdleMs: config.reclaimIdleMs,
          allowNoPersistence: config.redisAllowNoPersistence,
          maxPendingBytes: config.maxPendingBytes,
          maxBacklog: config.maxBacklog,
        },
        child,
      );
    case 'kafka': {
      // kafkajs is loaded only when Kafka is the transport.
      const { createKafkaTransport } = await import('./kafka.js');
      return createKafkaTransport(
        {
          brokers: config.kafkaBrokers,
          topic: config.kafkaTopic,
          partitions: config.kafkaPartitions,
          groupId: config.consumerGroup,
          maxPendingBytes: config.maxPendingBytes,
          maxBacklog: config.maxBacklog,
          sessionTimeoutMs: config.kafkaSessionTimeoutMs,
        },
        child,
      );
    }
  }
}
