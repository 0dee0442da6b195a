/**
 * Tally as a child process, for the integration tests and the benchmark alike: start it the way
 * `npm start` does (START below), keep its output for error messages, stop it gracefully.
 * Readiness is in ready.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * How `npm start` runs Tally (package.json's start script is this, checked by a test): the
 * launcher (bin/tally.mjs: the source transpiled ahead of time, no loader thread), a young
 * generation of at most 4 MB per semi-space instead of 16, and glibc told to give freed memory
 * back. docs/benchmarks.md, "Embedded footprint", has what each saves.
 */
export const START = {
  env: { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' },
  nodeArgs: ['--max-semi-space-size=4'],
  script: 'bin/tally.mjs',
} as const;

/**
 * The split topology's processes (`tally api`, `tally worker`) run with 16 MB semi-spaces, as
 * docker-compose.yml starts them: a request waits for its durable write and a worker holds a
 * batch of thousands of events, so with 4 MB they outlive young collections and are copied and
 * promoted; 16 MB took GC from 5.4 to 3.2 µs per request on the API and the aggregator's CPU per
 * event by 15–23 % (docs/benchmarks.md, "Edge CPU per request"), for about 24 MB of RSS each.
 * `serve` (npm start) keeps the embedded footprint's 4 MB.
 */
export const SPLIT_NODE_ARGS = ['--max-semi-space-size=16'] as const;

/** The node options a role starts with (see START and SPLIT_NODE_ARGS). */
export const nodeArgsFor = (role: string | undefined): readonly string[] =>
  role === 'api' || role === 'worker' ? SPLIT_NODE_ARGS : START.nodeArgs;

/** A child process, with its output kept for error messages and assertions. */
export interface Child {
  /** For messages: `tally worker`, `bare node:http`. */
  name: string;
  pid: number;
  proc: ChildProcess;
  /** Resolves with the exit code (null after a signal) once the process has exited. */
  exited: Promise<number | null>;
  /** stdout and stderr as they came, interleaved (only the last `keepChars` if that was set). */
  output(): string;
}

export interface SpawnOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Writes a V8 CPU profile (`--cpu-prof`) into this folder when the process exits. */
  profileDir?: string;
  /** Keeps only the last this many characters of output (long benchmark runs); all by default. */
  keepChars?: number;
}

/** `node [--cpu-prof] --import tsx <script> <args>` from the repo root. */
export function spawnNode(
  name: string,
  script: string,
  args: string[],
  opts: SpawnOptions = {},
): Child {
  return spawnWith(name, ['--import', 'tsx', script, ...args], opts);
}

function spawnWith(name: string, args: string[], opts: SpawnOptions): Child {
  const nodeArgs = [
    ...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []),
    ...args,
  ];
  const proc = spawn(process.execPath, nodeArgs, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) {
    throw new Error(`could not start ${name}`);
  }
  const keepChars = opts.keepChars ?? Infinity;
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > keepChars) {
      out = out.slice(-keepChars);
    }
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  return { name, pid: proc.pid, proc, exited, output: () => out };
}

/**
 * `tally <args>` (named `tally <command>`), not yet ready: see waitReady. Keys are off unless
 * `opts.env` sets AUTH: suites about something else read reports without one; the security
 * suite turns them on.
 */
export function spawnTally(args: string[], opts: SpawnOptions = {}): Child {
  return spawnWith(
    `tally ${args[0] ?? ''}`.trim(),
    [...nodeArgsFor(args[0]), START.script, ...args],
    {
      ...opts,
      env: { ...START.env, AUTH: 'off', ...opts.env },
    },
  );
}

/**
 * SIGTERM (graceful: Tally drains and closes), then SIGKILL after `graceMs`. Resolves with the
 * exit code; at once if the process has already exited.
 */
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

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}
