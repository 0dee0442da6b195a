import { invalidParameter } from '../errors.js';
import { DAY_MS, parseDate, parseTimestamp } from '../events/time.js';

export const MAX_RANGE_DAYS = 3660;

/** Inclusive UTC date range from `date`, or `from` and `to`. Checks that both are real dates. */
export function dateRange(q: {
  date?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}): {
  from: string;
  to: string;
  days: number;
} {
  if (q.date !== undefined) {
    if (q.from !== undefined || q.to !== undefined) {
      throw invalidParameter('date', 'give either date, or from and to, not both');
    }
    day('date', q.date);
    return { from: q.date, to: q.date, days: 1 };
  }
  if (q.from === undefined || q.to === undefined) {
    throw invalidParameter(
      q.from === undefined ? 'from' : 'to',
      'is required (or give date=YYYY-MM-DD)',
    );
  }
  const f = day('from', q.from);
  const t = day('to', q.to);
  if (f > t) {
    throw invalidParameter('from', `${q.from} is after to=${q.to}`);
  }
  const days = (t - f) / DAY_MS + 1;
  if (days > MAX_RANGE_DAYS) {
    throw invalidParameter('to', `the range spans ${days} days; the maximum is ${MAX_RANGE_DAYS}`);
  }
  return { from: q.from, to: q.to, days };
}

export function day(name: string, v: string): number {
  const ms = parseDate(v);
  if (ms === undefined) {
    throw invalidParameter(name, `${JSON.stringify(v)} is not a real date (YYYY-MM-DD)`);
  }
  return ms;
}

/** A date (whole UTC day) or an ISO-8601 timestamp with a zone. `end` gives a date's last ms. */
export function instant(name: string, v: string, end: boolean): number {
  const d = parseDate(v);
  if (d !== undefined) {
    return end ? d + DAY_MS - 1 : d;
  }
  const ts = parseTimestamp(v);
  if (ts === undefined) {
    throw invalidParameter(
      name,
      `${JSON.stringify(v)} is neither a date (YYYY-MM-DD) nor an ISO-8601 timestamp with a zone`,
    );
  }
  return ts;
}
