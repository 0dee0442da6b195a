/** Real HTTP against the full single-process service (embedded log + PGlite). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caughtUp, get, post, startServer, waitFor, type TestServer } from '../helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ MAX_BODY_BYTES: '65536', MAX_EVENTS_PER_REQUEST: '50' });
});
afterAll(async () => {
  await s.close();
});

const ev = (extra: Record<string, unknown> = {}) => ({
  type: 'page_view',
  site_id: 'ingest',
  path: '/',
  ...extra,
});

describe('POST /v1/events accepts', () => {
  it('one event, with a generated UUIDv7 id', async () => {
    const r = await post(`${s.url}/v1/events`, ev());
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(1);
    expect(r.body.event_ids[0]).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('an array, keeping client ids in order', async () => {
    const r = await post(`${s.url}/v1/events`, [ev({ event_id: 'a-1' }), ev({ event_id: 'a-2' })]);
    expect(r).toMatchObject({ status: 202, body: { accepted: 2, event_ids: ['a-1', 'a-2'] } });
  });

  it('{"events": [...]}', async () => {
    const r = await post(`${s.url}/v1/events`, { events: [ev({ event_id: 'w-1' })] });
    expect(r).toMatchObject({ status: 202, body: { accepted: 1, event_ids: ['w-1'] } });
  });

  it('text/plain bodies holding JSON (navigator.sendBeacon)', async () => {
    const r = await post(`${s.url}/v1/events`, JSON.stringify(ev({ event_id: 'beacon-1' })), {
      'content-type': 'text/plain;charset=UTF-8',
    });
    expect(r).toMatchObject({ status: 202, body: { event_ids: ['beacon-1'] } });
  });

  it('timestamps with Z, with an offset, and as epoch milliseconds', async () => {
    const ms = Date.now() - 3_600_000;
    const r = await post(`${s.url}/v1/events`, [
      ev({ ts: new Date(ms).toISOString() }),
      ev({ ts: isoWithOffset(ms, 330) }),
      ev({ ts: isoWithOffset(ms, -180).replace(/:(\d\d)$/, '$1') }),
      ev({ ts: ms }),
      ev({ ts: String(ms) }),
    ]);
    expect(r.status).toBe(202);
  });

  it('custom events, clicks with only ad_unit_id, and flat props', async () => {
    const r = await post(`${s.url}/v1/events`, [
      {
        type: 'signup.completed',
        site_id: 'ingest',
        props: { plan: 'pro', seats: 3, trial: false, ref: null },
      },
      { type: 'click', ad_unit_id: 'unit-9' },
    ]);
    expect(r.status).toBe(202);
  });
});

describe('POST /v1/events refuses', () => {
  it('a batch with any invalid event, listing every error with index and field', async () => {
    const r = await post(`${s.url}/v1/events`, [
      ev({ event_id: 'never-1' }),
      { type: 'Bad Type!' },
      { type: 'page_view' },
      { type: 'impression' },
      ev({ nope: 1, site_id: 5 }),
      ev({ path: 'x'.repeat(2049) }),
      ev({ ts: '2026-02-30T00:00:00Z' }),
      ev({ ts: '2026-11-24T10:00:00' }),
      ev({ props: { nested: { a: 1 } } }),
      ev({ props: { big: 'x'.repeat(5000) } }),
      ev({ user_id: 'nul\u0000byte' }),
      'not an object',
      ev({ site_id: 'join\u0001key' }),
      ev({ event_id: 'lone-\ud800' }),
    ]);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_EVENT');
    const got = r.body.error.details.map(
      (d: { index: number; field: string }) => `${d.index}:${d.field}`,
    );
    expect(got).toEqual([
      '1:type',
      '2:site_id',
      '3:ad_id',
      '4:nope',
      '4:site_id',
      '5:path',
      '6:ts',
      '7:ts',
      '8:props.nested',
      '9:props',
      '10:user_id',
      '11:',
      '12:site_id',
      '13:event_id',
    ]);
    const messages = r.body.error.details.map((d: { message: string }) => d.message);
    expect(messages.slice(-2)).toEqual([
      'must not contain control characters',
      'must be well-formed Unicode (a lone surrogate)',
    ]);
  });

  it('timestamps far in the future or before MIN_EVENT_TS, each refusal under its own reason', async () => {
    // Earlier refusals reach the ledger within a second (the edge flushes its counts each second).
    await new Promise((r) => setTimeout(r, 1100));
    const before = (await get(`${s.url}/v1/drops`)).body.drops;
    const r = await post(`${s.url}/v1/events`, [
      ev({ ts: Date.now() + 2 * 3600_000 }),
      ev({ ts: '1999-12-31T23:59:59.999Z' }),
      ev({ ts: '9999-12-31T00:00:00Z' }),
      ev({ ts: 0 }),
      ev({ ts: '2024-02-04T12:00:00Z' }),
    ]);
    expect(r.status).toBe(400);
    expect(r.body.error.details).toEqual([
      { index: 0, field: 'ts', message: 'is more than 3600000 ms in the future' },
      {
        index: 1,
        field: 'ts',
        message: 'is before 2000-01-01T00:00:00.000Z, the oldest time accepted (MIN_EVENT_TS)',
      },
      { index: 2, field: 'ts', message: 'is more than 3600000 ms in the future' },
      {
        index: 3,
        field: 'ts',
        message: 'is before 2000-01-01T00:00:00.000Z, the oldest time accepted (MIN_EVENT_TS)',
      },
    ]);
    // Nothing of the batch is accepted: two refused as too old, the other three as invalid.
    await waitFor(async () => {
      const d = (await get(`${s.url}/v1/drops`)).body.drops;
      return (
        (d.too_old ?? 0) - (before.too_old ?? 0) === 2 && d.invalid - (before.invalid ?? 0) === 3
      );
    });
  });

  it('history of any age above the floor: accepted and counted in its own day', async () => {
    const site = `old-${Date.now()}`;
    const r = await post(`${s.url}/v1/events`, [
      ev({ site_id: site, ts: '2000-01-01T00:00:00Z', event_id: `${site}-a` }),
      ev({ site_id: site, ts: '2024-02-04T12:00:00Z', event_id: `${site}-b` }),
      ev({ site_id: site, ts: 1707048000000, event_id: `${site}-c` }),
    ]);
    expect(r.status).toBe(202);
    await caughtUp(s);
    const day = async (d: string) =>
      (await get(`${s.url}/v1/stats?site_id=${site}&from=${d}&to=${d}`)).body;
    expect(await day('2000-01-01')).toMatchObject({ total_views: 1 });
    expect(await day('2024-02-04')).toMatchObject({ total_views: 2 });
  });

  it('malformed JSON with 400', async () => {
    const r = await post(`${s.url}/v1/events`, '{"type": "page_view",');
    expect(r).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
    const beacon = await post(`${s.url}/v1/events`, 'nope', { 'content-type': 'text/plain' });
    expect(beacon).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
  });

  it('an empty body and an empty batch with 400', async () => {
    expect((await post(`${s.url}/v1/events`, '')).status).toBe(400);
    const empty = await post(`${s.url}/v1/events`, []);
    expect(empty).toMatchObject({ status: 400, body: { error: { code: 'INVALID_EVENT' } } });
  });

  it('other content types with 415', async () => {
    const r = await post(`${s.url}/v1/events`, '<event/>', { 'content-type': 'application/xml' });
    expect(r).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
  });

  it('bodies over MAX_BODY_BYTES with 413', async () => {
    const big = Array.from({ length: 40 }, () => ev({ path: `/${'p'.repeat(2000)}` }));
    const r = await post(`${s.url}/v1/events`, big);
    expect(r).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
  });

  it('more than MAX_EVENTS_PER_REQUEST events with 413', async () => {
    const r = await post(
      `${s.url}/v1/events`,
      Array.from({ length: 51 }, () => ev()),
    );
    expect(r).toMatchObject({
      status: 413,
      body: {
        error: { code: 'TOO_MANY_EVENTS', message: '51 events in one request; the maximum is 50' },
      },
    });
    expect(
      (
        await post(
          `${s.url}/v1/events`,
          Array.from({ length: 50 }, () => ev()),
        )
      ).status,
    ).toBe(202);
  });

  it('counts refused events in the drop ledger, and nothing of a refused batch is counted', async () => {
    await post(`${s.url}/v1/events`, [ev({ event_id: 'refused-ok' }), { type: 'page_view' }]);
    await s.running.app.inject({ method: 'GET', url: '/health' });
    await caughtUp(s);
    const drops = async () => (await get(`${s.url}/v1/drops`)).body;
    await new Promise((r) => setTimeout(r, 1200)); // edge drops are flushed every second
    const d = await drops();
    expect(d.drops.invalid).toBeGreaterThanOrEqual(2);
    const again = await post(`${s.url}/v1/events`, ev({ event_id: 'refused-ok' }));
    expect(again.status).toBe(202);
    await caughtUp(s);
    expect((await drops()).drops.duplicate ?? 0).toBe(0);
  });

  it('unknown routes with 404 in the same error shape', async () => {
    const r = await get(`${s.url}/v1/nothing`);
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
  });
});

/** `ms` written in local time at `offsetMin` from UTC, e.g. 2026-11-24T15:30:00.000+05:30. */
function isoWithOffset(ms: number, offsetMin: number): string {
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 23);
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  return `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}
