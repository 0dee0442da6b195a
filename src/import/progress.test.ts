import { describe, expect, it } from 'vitest';
import { progressBar } from './progress.js';

const stream = (isTTY: boolean) => {
  const out: string[] = [];
  return { out, s: { isTTY, write: (t: string) => out.push(t) } as unknown as NodeJS.WriteStream };
};

describe('progressBar', () => {
  it('draws the share, records, rate and time left on a terminal, and ends the line', () => {
    const { out, s } = stream(true);
    // A fixed clock: 10 s after the start (a real one moves on while the test runs).
    const bar = progressBar(s, 0, () => 10_000);
    bar.update(
      { records: 50_000, imported: 49_990, refused: 10, source: { done: 250, total: 1000 } },
      true,
    );
    bar.done();
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(
      /^\r\[######\.{18}\]  25% 50,000 records {2}5,000\/s {2}ETA 0:30 {2}10 refused\x1b\[K$/,
    );
    expect(out[1]).toBe('\n');
  });

  it('says nothing when the output is not a terminal (the summary line is printed instead)', () => {
    const { out, s } = stream(false);
    const bar = progressBar(s);
    bar.update(
      { records: 1, imported: 1, refused: 0, source: { done: 1, total: undefined } },
      true,
    );
    bar.done();
    expect(out).toEqual([]);
  });

  it('shows no bar and no time left when the size is unknown (standard input)', () => {
    const { out, s } = stream(true);
    const bar = progressBar(s, 0, () => 1000);
    bar.update(
      { records: 10, imported: 10, refused: 0, source: { done: 5, total: undefined } },
      true,
    );
    expect(out[0]).toMatch(/^\r10 records {2}10\/s {2}ETA --:--\x1b\[K$/);
  });
});
