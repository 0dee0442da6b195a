import { describe, expect, it } from 'vitest';
import { planRange } from './path-ranking.js';

const span = (first: string, last: string): string[] => {
  const out: string[] = [];
  for (let t = Date.parse(first); t <= Date.parse(last); t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
};

describe('planRange', () => {
  it('reads nothing from months before any compaction, or for a range within a month', () => {
    expect(planRange('2026-01-01', '2026-12-31', null)).toBeUndefined();
    expect(planRange('2026-03-10', '2026-03-12', '2026-06-01', '2026-01-01')).toBeUndefined();
    // No monthly row for the site: its compacted days have no rows.
    expect(planRange('2026-01-01', '2026-12-31', '2026-06-01', null)).toBeUndefined();
  });

  it('a year: whole months, the first partial month less its day out of range, the rest as days', () => {
    expect(planRange('2025-12-02', '2026-12-01', '2026-12-01', '2025-06-01')).toEqual({
      months: [
        '2025-12-01',
        ...['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11'].map(
          (m) => `2026-${m}-01`,
        ),
      ],
      minus: ['2025-12-01'],
      edge: [],
      tail: ['2026-12-01', '2026-12-01'],
    });
  });

  it('a month compacted in part: its compacted days from the month, the others as days', () => {
    expect(planRange('2026-10-01', '2026-11-20', '2026-11-15', '2026-10-01')).toEqual({
      months: ['2026-10-01', '2026-11-01'],
      minus: [],
      edge: [],
      tail: ['2026-11-15', '2026-11-20'],
    });
  });

  it('a range that starts late in a month reads those days, not the month less the rest', () => {
    expect(planRange('2026-09-25', '2026-10-31', '2026-12-01', '2026-01-01')).toEqual({
      months: ['2026-10-01'],
      minus: [],
      edge: span('2026-09-25', '2026-09-30'),
      tail: ['2026-12-01', '2026-10-31'],
    });
  });

  it('a range that ends early in the last month subtracts the compacted days after it', () => {
    expect(planRange('2026-09-01', '2026-10-20', '2026-11-01', '2026-09-01')).toEqual({
      months: ['2026-09-01', '2026-10-01'],
      minus: span('2026-10-21', '2026-10-31'),
      edge: [],
      tail: ['2026-11-01', '2026-10-20'],
    });
  });

  it('all time (1970 … 9999) lists only the months from the first monthly row on', () => {
    expect(planRange('1970-01-01', '9999-12-31', '2026-03-05', '2026-01-01')).toEqual({
      months: ['2026-01-01', '2026-02-01', '2026-03-01'],
      minus: [],
      edge: [],
      tail: ['2026-03-05', '9999-12-31'],
    });
  });
});
