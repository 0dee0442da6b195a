import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Db, Queryable, QueryResult } from './db.js';
import type { WorkerData, WorkerRequest, WorkerResponse } from './pglite-worker.js';

const WORKER = new URL('./pglite-worker.ts', import.meta.url);
const INIT = new URL('./pglite-init.ts', import.meta.url);
/** Compiled JS (`dist/`), or TypeScript through tsx in development and tests. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

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
  if (!existsSync(join(opts.dataDir, 'PG_VERSION'))) {
    await initInChild(opts.dataDir);
  }
  const worker = spawnWorker(WORKER, {
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
 * A first start creates and migrates the database in a child process (pglite-init.ts). PGlite's
 * initdb runs a second PGlite and the initdb module beside the first, whose WASM memories stay
 * reachable from it: 450 MB more RSS for as long as the server lived. Done in a thread that then
 * ends, 90 MB still stayed (freed, but kept by malloc). Costs about 0.8 s, once per data
 * directory; the server's own migrate() then finds nothing to do.
 */
async function initInChild(dataDir: string): Promise<void> {
  const args = FROM_SOURCE
    ? ['--import', esmUrl('tsx', '.mjs'), fileURLToPath(INIT)]
    : [fileURLToPath(new URL(INIT.href.replace(/\.ts$/, '.js')))];
  const child = spawn(process.execPath, [...args, dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) {
    throw new DbError(
      `creating the embedded database in ${dataDir} failed (exit ${code}): ${stderr}`,
    );
  }
}

/** A package's ESM entry: a `.cjs` (require) entry is swapped for its twin with `ext`. */
const esmUrl = (pkg: string, ext: string) =>
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
