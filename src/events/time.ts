/** UTC bucket helpers. Buckets are computed here, never from a database session's time zone. */
export const DAY_MS = 86_400_000;

/** A bucket function that remembers its last bucket: events arrive mostly in time order. */
function bucketer(size: number, format: (start: number) => string): (ms: number) => string {
  let start = NaN;
  let label = '';
  return (ms) => {
    const s = ms - (((ms % size) + size) % size);
    if (s !== start) {
      start = s;
      label = format(s);
    }
    return label;
  };
}

export const dayOf = bucketer(DAY_MS, (s) => new Date(s).toISOString().slice(0, 10));
export const hourOf = bucketer(3_600_000, (s) => new Date(s).toISOString());
export const minuteOf = bucketer(60_000, (s) => new Date(s).toISOString());

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

const daysIn = (y: number, mo: number): number =>
  mo === 2
    ? y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
      ? 29
      : 28
    : [4, 6, 9, 11].includes(mo)
      ? 30
      : 31;

/** Whether year, month (1-12) and day make a real date. */
const realDate = (y: number, mo: number, d: number): boolean =>
  mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(y, mo);

/** Parses a calendar date `YYYY-MM-DD` (UTC midnight, epoch ms); undefined when impossible. */
export function parseDate(s: string): number | undefined {
  const m = DATE_RE.exec(s);
  if (!m) {
    return undefined;
  }
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  // Checked by arithmetic: formatting a Date back to text cost a third of an import's parsing.
  if (!realDate(y, mo, d)) {
    return undefined;
  }
  return Date.UTC(y, mo - 1, d);
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** The last string parseTimestamp parsed and its answer. */
let lastText: string | undefined;
let lastMs: number | undefined;

/**
 * Parses an ISO-8601 timestamp that carries `Z` or an offset (a zone-less timestamp is
 * ambiguous and refused), checking that the calendar fields are real (no 2026-02-30).
 * Remembers its last answer: a seed route checks its event's timestamp, then the canonical
 * check parses the same string again.
 */
export function parseTimestamp(s: string): number | undefined {
  if (s === lastText) {
    return lastMs;
  }
  const ms = parseIso(s);
  lastText = s;
  lastMs = ms;
  return ms;
}

/** Days from 1970-01-01 to a (proleptic Gregorian) date: H. Hinnant's days_from_civil. */
function daysFromCivil(y: number, mo: number, d: number): number {
  const yy = mo <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}

function parseIso(s: string): number | undefined {
  const m = ISO_RE.exec(s);
  if (!m) {
    return undefined;
  }
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const sec = m[6] === undefined ? 0 : Number(m[6]);
  const frac = m[7];
  const zone = m[8]!;
  if (!realDate(y, mo, d) || h > 23 || mi > 59 || sec > 59) {
    return undefined;
  }
  let offsetMin = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2, 4));
    if (oh > 23 || om > 59) {
      return undefined;
    }
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  // By arithmetic: Date.UTC was most of a parse (~0.4 µs). It reads years 0-99 as 1900-1999,
  // which is kept for those years.
  const day = y < 100 ? Date.UTC(y, mo - 1, d) / DAY_MS : daysFromCivil(y, mo, d);
  return day * DAY_MS + h * 3_600_000 + mi * 60_000 + sec * 1000 + ms - offsetMin * 60_000;
}
