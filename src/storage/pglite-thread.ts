import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { WorkerData, WorkerRequest, WorkerResponse } from './pglite-worker.js';

const WORKER = new URL('./pglite-worker.ts', import.meta.url);
/** Compiled JS (`dist/`), or TypeScript through tsx in development and tests. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
export type Request = WorkerRequest extends infer R
  ? R extends unknown
    ? Omit<R, 'id'>
    : never
  : never;

export class DbError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly severity?: string,
  ) {
    super(message);
  }
}

/**
 * One PGlite instance on its own thread (pglite-worker.ts). `broken` is set once the thread
 * died or PostgreSQL answered with a PANIC or FATAL error: after a failed WAL write (a full
 * disk) every later query of that instance fails with `cannot drop active portal ""`, even once
 * space is back. Only a new instance, which replays the WAL, recovers (pglite-db.ts does it).
 */
export interface PgliteThread {
  call<T>(req: Request): Promise<T>;
  readonly broken: Error | undefined;
  /** Closes the database cleanly (a checkpoint-free shutdown) and ends the thread. */
  close(): Promise<void>;
  /** Ends the thread at once, as a crash would: the next instance replays the WAL. */
  terminate(): Promise<void>;
}

/** Starts the thread and resolves once PGlite is open; rejects if it cannot open. */
export async function openThread(
  data: WorkerData,
  onBroken: (err: Error) => void,
): Promise<PgliteThread> {
  const worker = spawnWorker(WORKER, data);
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let broken: Error | undefined;
  let ready!: Pending;
  const readyP = new Promise((resolve, reject) => (ready = { resolve, reject }));
  const breakWith = (err: Error) => {
    if (!broken) {
      broken = err;
      onBroken(err);
    }
  };
  worker.on('message', (msg: WorkerResponse) => {
    const p = msg.id === 0 ? ready : pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.ok) {
      p?.resolve(msg.result);
      return;
    }
    const err = new DbError(msg.error.message, msg.error.code, msg.error.severity);
    if (err.severity === 'PANIC' || err.severity === 'FATAL') {
      breakWith(err);
    }
    p?.reject(err);
  });
  const fail = (err: Error) => {
    ready.reject(err);
    breakWith(err);
    for (const p of pending.values()) {
      p.reject(err);
    }
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`embedded database thread exited (${code})`)));
  await readyP;

  const call = <T>(req: Request): Promise<T> => {
    if (broken) {
      return Promise.reject(broken);
    }
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...req, id });
    });
  };
  return {
    call,
    get broken() {
      return broken;
    },
    async close() {
      if (!broken) {
        await call({ op: 'close' }).catch(() => undefined);
      }
      await worker.terminate();
    },
    async terminate() {
      await worker.terminate();
    },
  };
}

/** A package's ESM entry: a `.cjs` (require) entry is swapped for its twin with `ext`. */
export const esmUrl = (pkg: string, ext: string) =>
  // createRequire rather than import.meta.resolve: test runners do not all provide the latter.
  pathToFileURL(
    createRequire(import.meta.url)
      .resolve(pkg)
      .replace(/\.cjs$/, ext),
  ).href;

/**
 * Runs from compiled JS (`dist/`) or, in development and tests, from TypeScript through tsx:
 * Node 20 does not apply `--import` loaders to a worker's entry module, so a one-line bootstrap
 * registers tsx first and then imports the real entry.
 */
function spawnWorker(tsEntry: URL, workerData: WorkerData): Worker {
  if (!FROM_SOURCE) {
    return new Worker(new URL(tsEntry.href.replace(/\.ts$/, '.js')), { workerData });
  }
  // PGlite is imported before tsx is registered, so its 400 kB of JavaScript never passes
  // through the loader's thread: 40 MB less RSS. The entry's own import of it is then a hit in
  // the module cache.
  const boot = `import(${JSON.stringify(esmUrl('@electric-sql/pglite', '.js'))})
    .then(() => import(${JSON.stringify(esmUrl('tsx/esm/api', '.mjs'))}))
    .then((m) => { m.register(); return import(${JSON.stringify(tsEntry.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
