/**
 * CPU time per request of each process under load: user + system time of the whole process
 * (every thread: libuv's pool, GC helpers, the embedded database's worker) from
 * `/proc/<pid>/stat` before and after a phase, divided by the requests answered in it; the
 * harness's own process (the load generator) from `process.cpuUsage()`. Process CPU time is far
 * less sensitive to other load on the machine than a rate is: a busy neighbour slows a server
 * down, but does not make it spend more CPU on a request (caches and frequency aside).
 */
import { readFileSync } from 'node:fs';
import type { Child } from '../../test/harness/spawn.js';
import type { ProcessCpu } from './types.js';

/** USER_HZ: the unit of utime/stime in /proc; 100 on every Linux architecture Node runs on. */
const TICKS_PER_S = 100;

/** utime + stime of a process in µs, or undefined when it is gone (or not on Linux). */
export function processCpuUs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of the line (utime, stime) are the 12th and 13th after the name.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1e6) / TICKS_PER_S : undefined;
  } catch {
    return undefined;
  }
}

export interface CpuMark {
  children: Map<number, number | undefined>;
  harness: NodeJS.CpuUsage;
}

/** CPU used so far by each process and by this one. */
export function markCpu(children: readonly Child[]): CpuMark {
  return {
    children: new Map(children.map((c) => [c.pid, processCpuUs(c.pid)])),
    harness: process.cpuUsage(),
  };
}

/** CPU each process used since `from`, in total and per answered request. */
export function cpuSince(
  from: CpuMark,
  children: readonly Child[],
  requests: number,
): ProcessCpu[] {
  const per = (us: number) => (requests > 0 ? Math.round((us / requests) * 10) / 10 : 0);
  const out: ProcessCpu[] = [];
  for (const c of children) {
    const before = from.children.get(c.pid);
    const after = processCpuUs(c.pid);
    if (before !== undefined && after !== undefined) {
      out.push({
        name: c.name,
        cpuMs: Math.round((after - before) / 1000),
        usPerRequest: per(after - before),
      });
    }
  }
  const h = process.cpuUsage(from.harness);
  out.push({
    name: 'harness (load generator)',
    cpuMs: Math.round((h.user + h.system) / 1000),
    usPerRequest: per(h.user + h.system),
  });
  return out;
}
