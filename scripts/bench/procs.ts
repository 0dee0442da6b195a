import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { ProcessPeak } from './types.js';

/** A child process of the harness, with the tail of its output kept for error messages. */
export interface Child {
  name: string;
  pid: number;
  proc: ChildProcess;
  exited: Promise<number | null>;
  tail(): string;
}

export const REPO_ROOT = new URL('../../', import.meta.url).pathname;

/** `node [--cpu-prof] --import tsx <script> <args>` from the repo root. */
export function spawnNode(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  opts: { profileDir?: string } = {},
): Child {
  const nodeArgs = [
    ...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []),
    '--import',
    'tsx',
    script,
    ...args,
  ];
  const proc = spawn(process.execPath, nodeArgs, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) {
    throw new Error(`could not start ${name}`);
  }
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  return { name, pid: proc.pid, proc, exited, tail: () => tail };
}

/** Polls `GET <url>/ready` until 200; fails early if one of `children` exits. */
export async function waitReady(
  url: string,
  children: Child[],
  timeoutMs = 180_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead: Child | undefined;
  for (const c of children) {
    void c.exited.then(() => {
      dead ??= c;
    });
  }
  while (Date.now() < deadline) {
    if (dead) {
      throw new Error(`${dead.name} exited before it was ready:\n${dead.tail()}`);
    }
    const ok = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) {
      return;
    }
    await sleep(200);
  }
  throw new Error(`${url}/ready did not answer 200 within ${timeoutMs / 1000} s`);
}

/** SIGTERM (graceful: Tally drains and closes), then SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 30_000): Promise<number | null> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
    return child.proc.exitCode;
  }
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
  try {
    return await child.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Current and peak resident set size of a process, in KiB, from /proc (Linux). */
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

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
