/** Configuration rules that span variables: refused at start-up with the variable and the reason. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('configuration', () => {
  it('keeps a lingering Redis batch well inside the reclaim timeout', () => {
    const env = { TRANSPORT: 'redis', REDIS_URL: 'redis://127.0.0.1:6379' };
    expect(() =>
      loadConfig({ ...env, AGG_BATCH_MAX_WAIT_MS: '600', RECLAIM_IDLE_MS: '1000' }),
    ).toThrow(
      new ConfigError(
        'invalid AGG_BATCH_MAX_WAIT_MS=600: must be at most half of RECLAIM_IDLE_MS (1000)',
      ),
    );
    expect(
      loadConfig({ ...env, AGG_BATCH_MAX_WAIT_MS: '500', RECLAIM_IDLE_MS: '1000' }).aggregator
        .batchMaxWaitMs,
    ).toBe(500);
  });

  it('leaves reports a connection when batches are applied concurrently', () => {
    const env = { DATABASE_URL: 'postgres://127.0.0.1/x', DB_POOL_SIZE: '2' };
    expect(() => loadConfig({ ...env, AGG_CONCURRENCY: '2' })).toThrow(
      'invalid AGG_CONCURRENCY=2: must be below DB_POOL_SIZE (2), which reports share',
    );
    expect(loadConfig({ ...env, AGG_CONCURRENCY: '1' }).aggregator.concurrency).toBe(1);
    expect(loadConfig({}).aggregator.concurrency).toBe(2);
  });
});
