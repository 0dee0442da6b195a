import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedLog } from '../../src/transport/embedded-log/embedded-log.js';
import { describeTransport, testLog } from './transport.contract.js';

// Real: segment files in a temporary directory. Nothing is mocked.
describeTransport('embedded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tally-log-test-'));
  return {
    open: () =>
      createEmbeddedLog(
        {
          dir,
          segmentBytes: 64 * 1024,
          maxPendingBytes: 8 * 1024 * 1024,
          maxUnconsumedBytes: 64 * 1024 * 1024,
        },
        testLog,
      ),
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
