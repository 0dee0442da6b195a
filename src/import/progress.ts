import type { ImportProgress } from './run-import.js';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function clock(s: number): string {
  if (!Number.isFinite(s) || s < 0) {
    return '--:--';
  }
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const ss = String(Math.floor(s % 60)).padStart(2, '0');
  return h > 0 ? `${h}:${String(m % 60).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * A progress bar on a terminal (records/s and time left), redrawn at most five times a second;
 * nothing when the output is not a terminal, where only the summary line is printed.
 */
export function progressBar(
  out: NodeJS.WriteStream,
  started = Date.now(),
  nowMs: () => number = Date.now,
) {
  let last = 0;
  let drawn = false;
  return {
    update(p: ImportProgress, force = false): void {
      const now = nowMs();
      if (!out.isTTY || (!force && now - last < 200)) {
        return;
      }
      last = now;
      const secs = Math.max((now - started) / 1000, 0.001);
      const rate = p.records / secs;
      const { done, total } = p.source;
      const share = total ? Math.min(done / total, 1) : undefined;
      const width = 24;
      const bar =
        share === undefined
          ? ''
          : `[${'#'.repeat(Math.round(share * width)).padEnd(width, '.')}] ${(share * 100).toFixed(0).padStart(3)}% `;
      const eta = share ? clock(secs / share - secs) : '--:--';
      const refused = p.refused > 0 ? `  ${fmt(p.refused)} refused` : '';
      out.write(`\r${bar}${fmt(p.records)} records  ${fmt(rate)}/s  ETA ${eta}${refused}\x1b[K`);
      drawn = true;
    },
    done(): void {
      if (drawn) {
        out.write('\n');
      }
    },
  };
}
