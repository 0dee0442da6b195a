import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, get, post, startServer, today, type TestServer } from '../helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.close();
});

describe('POST /v1/events', () => {
  it('accepts one event and replies 202 with its id', async () => {
    const r = await post(`${s.url}/v1/events`, { type: 'page_view', site_id: 'one', path: '/' });
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(1);
    expect(r.body.event_ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });
});
