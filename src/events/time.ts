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
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) {
    return undefined;
  }
  return Date.UTC(y, mo - 1, d);
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * Parses an ISO-8601 timestamp that carries `Z` or an offset (a zone-less timestamp is
 * ambiguous and refused), checking that the calendar fields are real (no 2026-02-30).
 */
export function parseTimestamp(s: string): number | undefined {
  const m = ISO_RE.exec(s);
  if (!m) {
    return undefined;
  }
  const [, y, mo, d, h, mi, sec = '00', frac = '', zone = 'Z'] = m;
  if (
    parseDate(`${y}-${mo}-${d}`) === undefined ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(sec) > 59
  ) {
    return undefined;
  }
  let offsetMin = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2, 4));
    if (oh > 23 || om > 59) {
      return undefined;
    }
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  const utc = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(sec),
    ms,
  );
  return utc - offsetMin * 60_000;
}
