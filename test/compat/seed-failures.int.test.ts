/**
 * Failures that the full service cannot be made to produce on demand (log refusing writes,
 * storage down), through real HTTP: the compat plugins served by buildServer with fake
 * dependencies. Each seed answers in its own shape; 503 carries Retry-After; 500 hides details.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compatRoutes } from '../../src/compat/compat.js';
import { logUnavailable } from '../../src/errors.js';
import { buildServer } from '../../src/http/build-server.js';
import { createLogger } from '../../src/logger.js';
import type { Queryable } from '../../src/storage/db.js';
import { postJson, request } from './readme.js';

let app: FastifyInstance;
let url: string;
let deadLetters: number | undefined; // undefined: the database is down
beforeAll(async () => {
  const db: Queryable = {
    query: async <T>() => {
      if (deadLetters === undefined) {
        throw new Error('connection refused: secret details');
      }
      return { rows: [{ n: deadLetters }] as T[], rowCount: 1 };
    },
  };
  const plugins = await compatRoutes({
    ingest: {
      accept: () => Promise.reject(logUnavailable('the log is not accepting writes', 2)),
      accepted: () => 0,
    },
    db,
    transport: { stats: () => ({ waiting: 7, state: 'up' }) },
    aggregator: { stats: () => ({ counted: 10, duplicates: 3 }) },
  });
  app = await buildServer(createLogger({ level: 'silent' }), { maxBodyBytes: 65536 }, plugins);
  await app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await app.close();
});

const MSG = 'the log is not accepting writes';
const ts = new Date().toISOString();

describe('the log refusing writes: 503 with Retry-After, in each seed’s shape', () => {
  it.each([
    ['000', '/events', { type: 'click', ad_id: '1' }, { status: 'rejected', error: MSG }],
    [
      '001',
      '/api/ingestion/event',
      { site_id: 's', event_type: 'page_view', timestamp: ts },
      { status: 'error', message: MSG },
    ],
    [
      '003',
      '/api/event',
      { siteId: 's', eventType: 'page_view', path: '/', timestamp: ts },
      { statusCode: 503, message: MSG, error: 'Service Unavailable' },
    ],
    ['004', '/event', { site_id: 's', event_type: 'page_view', path: '/' }, { errors: [MSG] }],
  ])('seed %s', async (_seed, path, body, expected) => {
    const r = await postJson(`${url}${path}`, body);
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('2');
    expect(r.json).toEqual(expected);
    expect(r.headers.get('set-cookie')).toBeNull();
  });

  it('seed 002', async () => {
    const r = await request(
      `${url}/event/impression?ad_unit_id=1&campaign_id=2&creative_id=3&page_url=u`,
    );
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('2');
    expect(r.json).toEqual({ error: MSG });
  });
});

describe('storage down', () => {
  it('reports answer 500 in each seed’s shape, without the details', async () => {
    deadLetters = undefined;
    const cases: [string, unknown][] = [
      ['/api/reporting/stats?site_id=s', { status: 'error', message: 'internal error' }],
      [
        `/api/stats?siteId=s&date=${ts.slice(0, 10)}`,
        { statusCode: 500, message: 'internal error', error: 'Internal Server Error' },
      ],
      ['/stats?site_id=s', { error: 'Internal server error' }],
    ];
    for (const [path, expected] of cases) {
      const r = await request(`${url}${path}`);
      expect(r.status).toBe(500);
      expect(r.json).toEqual(expected);
    }
  });

  it('queue health answers 503', async () => {
    deadLetters = undefined;
    const r = await request(`${url}/api/queues/health`);
    expect(r.status).toBe(503);
    expect(r.json).toEqual({
      statusCode: 503,
      message: 'storage unavailable: dead letters cannot be counted',
      error: 'Service Unavailable',
    });
  });
});

describe('queue health figures', () => {
  it('waiting from the log, completed from the aggregator, failed from the dead letters', async () => {
    deadLetters = 3;
    const r = await request(`${url}/api/queues/health`);
    expect(r.json).toEqual({
      'analytics-events': {
        waiting: 7,
        active: 0,
        completed: 13,
        failed: 3,
        delayed: 0,
        total: 23,
      },
    });
  });
});
