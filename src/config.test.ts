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

  it('is secure by default and says which key or password is wrong', () => {
    const c = loadConfig({ DATA_DIR: '/srv/tally' });
    expect(c.auth).toEqual({
      enabled: true,
      adminKey: undefined,
      adminKeyFile: '/srv/tally/admin.key',
      unregisteredSites: 'accept',
      maxFailuresPerMinute: 20,
      corsMaxAgeS: 7200,
    });
    expect(loadConfig({ AUTH: 'off' }).auth.enabled).toBe(false);
    expect(loadConfig({ ADMIN_KEY: '' }).auth.adminKey).toBeUndefined();
    const key = `tally_0123456789_${'a'.repeat(43)}`;
    expect(loadConfig({ ADMIN_KEY: key }).auth.adminKey).toBe(key);
    expect(() => loadConfig({ ADMIN_KEY: 'secret' })).toThrow(
      'invalid ADMIN_KEY="secret": must be a key made by `tally keys create`',
    );
    expect(() => loadConfig({ AUTH: 'maybe' })).toThrow(/^invalid AUTH="maybe"/);
    expect(() => loadConfig({ BULL_BOARD_USER: 'admin' })).toThrow(
      'invalid BULL_BOARD_USER/BULL_BOARD_PASSWORD: set both or neither',
    );
    expect(
      loadConfig({
        SWAGGER_USER: 'a',
        SWAGGER_PASSWORD: 'b',
        ALLOWED_ORIGINS: 'https://a.com, https://b.com',
      }).compat,
    ).toMatchObject({
      swagger: { user: 'a', password: 'b' },
      bullBoard: undefined,
      allowedOrigins: ['https://a.com', 'https://b.com'],
    });
  });
});
