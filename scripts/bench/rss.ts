/** Memory of the processes under load: current and peak resident set size, from /proc (Linux). */
import { readFileSync } from 'node:fs';
import type { Child } from '../../test/harness/spawn.js';
import type { ProcessPeak } from './types.js';

/** Current and peak resident set size of a process, in KiB. */
export function readRss(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
  } catch {
    return undefined;
  }
}

export type RssWatch = ReturnType<typeof watchRss>;

/** Samples VmHWM of each child every 250 ms, so the peak survives the process's exit. */
export function watchRss(children: Child[]) {
  const peak = new Map<number, number>();
  const current = new Map<number, number>();
  const sample = () => {
    for (const c of children) {
      const r = readRss(c.pid);
      if (r) {
        peak.set(c.pid, Math.max(peak.get(c.pid) ?? 0, r.hwmKiB, r.rssKiB));
        current.set(c.pid, r.rssKiB);
      }
    }
  };
  sample();
  const timer = setInterval(sample, 250);
  return {
    currentMiB: (c: Child) => Math.round((current.get(c.pid) ?? 0) / 1024),
    peaks(): ProcessPeak[] {
      sample();
      return children.map((c) => ({
        name: c.name,
        pid: c.pid,
        peakRssMiB: Math.round((peak.get(c.pid) ?? 0) / 1024),
      }));
    },
    stop: () => clearInterval(timer),
  };
}
