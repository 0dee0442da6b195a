import { Worker } from 'node:worker_threads';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { Db, Queryable, QueryResult } from './db.js';
import type { WorkerRequest, WorkerResponse } from './pglite-worker.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
type Request = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

class DbError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * Embedded PostgreSQL under `dataDir`, run in a worker thread (see pglite-worker.ts).
 * `asyncCommit`: commit without waiting for the WAL flush. Only safe when the log keeps every
 * batch until a later synchronous commit covers it (the embedded log's `release`); a broker
 * that forgets a batch once it is acknowledged needs durable commits.
 */
export async function createPgliteDb(opts: {
  dataDir: string;
  asyncCommit?: boolean;
}): Promise<Db> {
  await mkdir(opts.dataDir, { recursive: true });
  const worker = spawnWorker(new URL('./pglite-worker.ts', import.meta.url), {
    dataDir: opts.dataDir,
    asyncCommit: opts.asyncCommit ?? false,
  });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let dead: Error | undefined;
  let ready!: Pending;
  const readyP = new Promise((resolve, reject) => (ready = { resolve, reject }));
  worker.on('message', (msg: WorkerResponse) => {
    const p = msg.id === 0 ? ready : pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.ok) {
      p?.resolve(msg.result);
    } else {
      p?.reject(new DbError(msg.error.message, msg.error.code));
    }
  });
  const fail = (err: Error) => {
    dead = err;
    ready.reject(err);
    for (const p of pending.values()) {
      p.reject(err);
    }
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`embedded database thread exited (${code})`)));
  await readyP;

  const call = <T>(req: Request): Promise<T> => {
    if (dead) {
      return Promise.reject(dead);
    }
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...req, id });
    });
  };
  const query = <T>(sql: string, params?: unknown[], tx?: number) =>
    call<QueryResult<T>>({ op: 'query', sql, params, ...(tx === undefined ? {} : { tx }) });

  return {
    kind: 'pglite',
    query: (sql, params) => query(sql, params),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const tx = await call<number>({ op: 'begin' });
      let result: T;
      try {
        result = await fn({ query: (sql, params) => query(sql, params, tx) });
      } catch (err) {
        await call({ op: 'rollback', tx }).catch(() => undefined);
        throw err;
      }
      await call({ op: 'commit', tx });
      return result;
    },
    async ping() {
      try {
        await query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (dead) {
        return;
      }
      await call({ op: 'close' }).catch(() => undefined);
      await worker.terminate();
    },
  };
}

/**
 * Runs from compiled JS (`dist/`) or, in development and tests, from TypeScript through tsx:
 * Node 20 does not apply `--import` loaders to a worker's entry module, so a one-line bootstrap
 * registers tsx first and then imports the real entry.
 */
function spawnWorker(tsEntry: URL, workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL(tsEntry.href.replace(/\.ts$/, '.js')), { workerData });
  }
  // createRequire rather than import.meta.resolve: test runners do not all provide the latter.
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(tsEntry.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
