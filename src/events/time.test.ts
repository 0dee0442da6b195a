import { describe, expect, it } from 'vitest';
import { dayOf, hourOf, minuteOf, parseDate } from './time.js';
import { uuidv7 } from './uuidv7.js';

describe('UTC buckets', () => {
  it('match Date arithmetic, including around midnight and across cached values', () => {
    const base = Date.UTC(2026, 10, 23, 23, 59, 59, 999);
    for (const ms of [
      base,
      base + 1,
      base - 60_000,
      base + 3_600_001,
      base - 86_400_000,
      base,
      0,
    ]) {
      const d = new Date(ms);
      expect(dayOf(ms)).toBe(d.toISOString().slice(0, 10));
      expect(hourOf(ms)).toBe(new Date(ms - (ms % 3_600_000)).toISOString());
      expect(minuteOf(ms)).toBe(new Date(ms - (ms % 60_000)).toISOString());
    }
  });
});

describe('uuidv7', () => {
  it('encodes the millisecond timestamp, version 7 and variant 10', () => {
    const now = Date.UTC(2026, 10, 24, 1, 2, 3, 456);
    const id = uuidv7(now);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now);
    expect(uuidv7(now)).not.toBe(id);
  });
});

describe('parseDate', () => {
  it('agrees with the calendar on every day of 1999–2001 and refuses impossible dates', () => {
    for (let ms = Date.UTC(1999, 0, 1); ms < Date.UTC(2002, 0, 1); ms += 86_400_000) {
      const s = new Date(ms).toISOString().slice(0, 10);
      expect(parseDate(s)).toBe(ms);
    }
    for (const s of [
      '2001-02-29',
      '1900-02-29',
      '2026-04-31',
      '2026-13-01',
      '2026-00-10',
      '2026-01-00',
      '2026-1-01',
    ]) {
      expect(parseDate(s)).toBeUndefined();
    }
    expect(parseDate('2000-02-29')).toBe(Date.UTC(2000, 1, 29));
    expect(parseDate('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
  });
});
