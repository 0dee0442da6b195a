import { describe, expect, it } from 'vitest';
import { dayOf, hourOf, minuteOf, parseDate, parseTimestamp } from './time.js';
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

describe('parseTimestamp', () => {
  it('agrees with Date on instants from 1901 to 2199, with Z, offsets and fractions', () => {
    let x = 12345;
    const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 5000; i++) {
      const ms = Math.floor(
        Date.UTC(1901, 0, 1) + next() * (Date.UTC(2199, 0, 1) - Date.UTC(1901, 0, 1)),
      );
      const iso = new Date(ms).toISOString();
      expect(parseTimestamp(iso)).toBe(ms);
      expect(parseTimestamp(iso.replace('Z', '+02:30'))).toBe(ms - 150 * 60_000);
      expect(parseTimestamp(iso.replace('Z', '-0100').replace('T', ' '))).toBe(ms + 3_600_000);
      expect(parseTimestamp(iso.slice(0, 19) + 'z')).toBe(ms - (((ms % 1000) + 1000) % 1000));
    }
    expect(parseTimestamp('2026-03-01T00:00:00.123456789Z')).toBe(
      Date.UTC(2026, 2, 1, 0, 0, 0, 123),
    );
    expect(parseTimestamp('0050-01-01T00:00:00Z')).toBe(Date.UTC(50, 0, 1));
    for (const bad of [
      '2026-02-29T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T00:00:00',
      '2026-01-01T00:00:00+24:00',
    ]) {
      expect(parseTimestamp(bad)).toBeUndefined();
    }
  });
});
