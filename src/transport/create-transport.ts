import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createEmbeddedLog } from './embedded-log.js';
import type { Transport } from './transport.js';

/** The one place that picks a transport (TRANSPORT=embedded|redis|kafka). */
export async function createTransport(config: Config['transport'], log: Logger): Promise<Transport> {
  const tlog = log.child({ component: 'log', transport: config.kind });
  switch (config.kind) {
    case 'embedded':
      return createEmbeddedLog(
        {
          dir: config.dir,
          segmentBytes: config.segmentBytes,
          maxPendingBytes: config.maxPendingBytes,
          maxUnconsumedBytes: config.maxUnconsumedBytes,
        },
        tlog,
      );
    default:
      throw new Error(`TRANSPORT=${config.kind} is not available in this build`);
  }
}
