import { describe, expect, it } from 'vitest';
import { EventInput, STRING_FIELDS } from './event.js';
import { normalizeEvent } from './normalize.js';
import { parseDate, parseTimestamp } from './time.js';

const now = Date.UTC(2026, 10, 24, 12, 0, 0);
const ctx = { now, userAgent: 'UA', ip: '203.0.113.9' };
const opts = {
  minTsMs: Date.UTC(2000, 0, 1),
  maxFutureMs: 3_600_000,
  visitorSalt: () => 'salt-salt-salt-salt',
};

describe('time', () => {
  it('parses real dates only', () => {
    expect(parseDate('2026-02-28')).toBe(Date.UTC(2026, 1, 28));
    expect(parseDate('2026-02-30')).toBeUndefined();
    expect(parseDate('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
    expect(parseDate('26-1-1')).toBeUndefined();
  });

  it('parses timestamps with Z or an offset and refuses zone-less or impossible ones', () => {
    expect(parseTimestamp('2026-11-24T12:00:00Z')).toBe(now);
    expect(parseTimestamp('2026-11-24T17:30:00+05:30')).toBe(now);
    expect(parseTimestamp('2026-11-24T09:00:00.000-0300')).toBe(now);
    expect(parseTimestamp('2026-11-24T12:00:00.123456Z')).toBe(now + 123);
    expect(parseTimestamp('2026-11-24T12:00:00')).toBeUndefined();
    expect(parseTimestamp('2026-02-30T12:00:00Z')).toBeUndefined();
    expect(parseTimestamp('2026-11-24T24:00:00Z')).toBeUndefined();
  });
});

describe('normalizeEvent', () => {
  it('enriches: id, path from url without query, user agent, daily cookieless hash', () => {
    const r = normalizeEvent(
      { type: 'page_view', site_id: 's', url: 'https://x.test/a/b?q=1#h' },
      0,
      ctx,
      opts,
    );
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.event).toMatchObject({
        type: 'page_view',
        site_id: 's',
        path: '/a/b',
        ts: now,
        received_at: now,
        ua: 'UA',
      });
      expect(r.event.event_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.event.vh).toHaveLength(22);
      expect(JSON.stringify(r.event)).not.toContain('203.0.113.9');
    }
  });

  it('gives the same visitor hash within a day and another the next day', () => {
    const a = normalizeEvent({ type: 'page_view', site_id: 's', ts: now }, 0, ctx, opts);
    const b = normalizeEvent(
      { type: 'page_view', site_id: 's', ts: now - 3_600_000 },
      0,
      ctx,
      opts,
    );
    const c = normalizeEvent(
      { type: 'page_view', site_id: 's', ts: now - 86_400_000 },
      0,
      ctx,
      opts,
    );
    const vh = (r: typeof a) => (r.ok ? r.event.vh : undefined);
    expect(vh(a)).toBe(vh(b));
    expect(vh(a)).not.toBe(vh(c));
  });

  it("asks for the salt of the event's own UTC day, and a new salt gives a new hash", () => {
    const asked: number[] = [];
    const daily = { ...opts, visitorSalt: (day: number) => (asked.push(day), `salt-${day}`) };
    const pv = (ts: number) => ({ type: 'page_view', site_id: 's', ts });
    const vh = (r: ReturnType<typeof normalizeEvent>) => (r.ok ? r.event.vh : undefined);
    const today = Math.floor(now / 86_400_000);
    const a = normalizeEvent(pv(now), 0, ctx, daily);
    const b = normalizeEvent(pv(now), 0, ctx, { ...daily, visitorSalt: () => 'another-salt' });
    normalizeEvent(pv(Date.UTC(2026, 10, 23, 23, 59, 59, 999)), 0, ctx, daily);
    normalizeEvent({ ...pv(now), user_id: 'u' }, 0, ctx, daily);
    expect(asked).toEqual([today, today - 1]);
    expect(vh(a)).toHaveLength(22);
    expect(vh(a)).not.toBe(vh(b));
  });

  it('keeps user_id / visitor_id and computes no hash then', () => {
    const r = normalizeEvent({ type: 'page_view', site_id: 's', visitor_id: 'v' }, 0, ctx, opts);
    expect(r.ok && r.event.vh).toBe(undefined);
  });

  it('checks every limit of the canonical event', () => {
    const bad = {
      event_id: 'x'.repeat(129),
      type: 't'.repeat(65),
      site_id: 's'.repeat(129),
      referrer: 'r'.repeat(2049),
      visitor_id: 'v'.repeat(257),
      props: { k: 'x'.repeat(4100) },
    };
    const r = normalizeEvent(bad, 3, ctx, opts);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.map((e) => e.field).sort()).toEqual([
        'event_id',
        'props',
        'referrer',
        'site_id',
        'type',
        'visitor_id',
      ]);
      expect(r.errors.every((e) => e.index === 3)).toBe(true);
    }
  });
});

describe('normalizeEvent: country and user agent', () => {
  const withCountry = { ...ctx, country: 'US' };

  it("puts the request's country on a site's events only, never the IP", () => {
    const site = normalizeEvent({ type: 'page_view', site_id: 's' }, 0, withCountry, opts);
    expect(site.ok && site.event.country).toBe('US');
    expect(JSON.stringify(site)).not.toContain('203.0.113.9');
    const ad = normalizeEvent({ type: 'impression', ad_id: 'a' }, 0, withCountry, opts);
    expect(ad.ok && 'country' in ad.event).toBe(false);
    const unknown = normalizeEvent({ type: 'page_view', site_id: 's' }, 0, ctx, opts);
    expect(unknown.ok && 'country' in unknown.event).toBe(false);
  });

  it('refuses a client-sent country: only the edge sets it', () => {
    expect(
      normalizeEvent({ type: 'page_view', site_id: 's', country: 'FR' }, 0, withCountry, opts),
    ).toEqual({
      ok: false,
      errors: [{ index: 0, field: 'country', message: 'is not a field of the canonical event' }],
    });
  });

  it('keeps the user agent on every event, cut to 512 characters, and the full url', () => {
    const url = 'https://x.test/a?utm_source=news';
    for (const raw of [
      { type: 'page_view', site_id: 's', url },
      { type: 'click', ad_id: 'a', url },
      { type: 'signup' },
    ]) {
      const r = normalizeEvent(raw, 0, { ...ctx, userAgent: 'U'.repeat(600) }, opts);
      expect(r.ok && r.event.ua).toBe('U'.repeat(512));
      if (r.ok && raw.url !== undefined) {
        expect(r.event.url).toBe(url);
      }
    }
  });
});

describe('one description of the event', () => {
  it('the documentation schema and the validator know the same fields, with the same limits', () => {
    const sample: Record<string, unknown> = {
      event_id: 'e',
      type: 'page_view',
      ts: now,
      props: { a: 1 },
    };
    for (const { name, max } of STRING_FIELDS) {
      const props: Record<string, unknown> = EventInput.properties;
      expect(props[name], name).toMatchObject({ maxLength: max });
      sample[name] = 'x';
    }
    expect(Object.keys(EventInput.properties).sort()).toEqual(Object.keys(sample).sort());
    expect(normalizeEvent(sample, 0, ctx, opts).ok).toBe(true);
    const long = normalizeEvent({ ...sample, referrer: 'r'.repeat(2049) }, 0, ctx, opts);
    expect(long).toEqual({
      ok: false,
      errors: [{ index: 0, field: 'referrer', message: 'must be 1 to 2048 characters long' }],
    });
    expect(normalizeEvent({ ...sample, sitee_id: 'x' }, 0, ctx, opts)).toEqual({
      ok: false,
      errors: [{ index: 0, field: 'sitee_id', message: 'is not a field of the canonical event' }],
    });
  });
});
