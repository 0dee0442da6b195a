import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';
import { Backoff, sleep } from '../retry.js';
import {
  commitProbe,
  createWriteTracker,
  storageUnavailable,
  type Db,
  type Queryable,
  type QueryResult,
} from './db.js';
import type { WorkerData } from './pglite-worker.js';
import {
  DbError,
  esmUrl,
  FROM_SOURCE,
  openThread,
  type PgliteThread,
  type Request,
} from './pglite-thread.js';

const INIT = new URL('./pglite-init.ts', import.meta.url);

/**
 * Less free space than this on the database's volume and the write probe says "cannot write":
 * a table that needs a new page, or the WAL its next segment, fails at any moment (a commit
 * into the WAL segment in use still succeeds, so a commit alone proves little).
 */
export const MIN_FREE_BYTES = 1024 * 1024;

/** How long the reopening waits between two attempts at most (the disk may still be full). */
const REOPEN = { initialMs: 250, maxMs: 2000 } as const;

/**
 * Embedded PostgreSQL under `dataDir`, run in a worker thread (see pglite-thread.ts).
 * `asyncCommit`: commit without waiting for the WAL flush. Only safe when the log keeps every
 * batch until a later synchronous commit covers it (the embedded log's `release`); a broker
 * that forgets a batch once it is acknowledged needs durable commits.
 *
 * An instance that broke (a WAL write failed for lack of space, the thread died) is replaced
 * by a new one, which replays the WAL: tried again and again, with backoff, until it opens
 * (once space is back). Meanwhile every call fails at once with STORAGE_UNAVAILABLE (503,
 * retriable); the commits that were asynchronous and not yet flushed are lost with the broken
 * instance, and `reopens()` tells who must apply them again.
 */
export async function createPgliteDb(opts: {
  dataDir: string;
  asyncCommit?: boolean;
  logger?: Logger;
}): Promise<Db> {
  await mkdir(opts.dataDir, { recursive: true });
  if (!existsSync(join(opts.dataDir, 'PG_VERSION'))) {
    await initInChild(opts.dataDir);
  }
  const data: WorkerData = { dataDir: opts.dataDir, asyncCommit: opts.asyncCommit ?? false };
  const log = opts.logger?.child({ component: 'embedded-db' });
  const writes = createWriteTracker();
  // The volume's free space, looked at every second (see MIN_FREE_BYTES).
  let free: { bytes: number | undefined; at: number } = { bytes: undefined, at: 0 };
  let looking: Promise<void> | undefined;
  const lookAtFree = () =>
    (looking ??= freeBytes(opts.dataDir)
      .then((bytes) => {
        free = { bytes, at: Date.now() };
      })
      .finally(() => (looking = undefined)));
  const noSpace = () =>
    free.bytes !== undefined && free.bytes < MIN_FREE_BYTES
      ? storageUnavailable(
          'the database cannot write: its disk is full; retry later',
          new Error(
            `no space left: ${Math.round(free.bytes / 1024)} KiB free on the volume of ${opts.dataDir}`,
          ),
        )
      : undefined;
  let reopens = 0;
  let closed = false;
  let reopening: Promise<void> | undefined;
  let cause: Error | undefined;
  // The instance in use; replaced by reopen().
  let thread!: PgliteThread;

  const broke = (t: PgliteThread) => (err: Error) => {
    if (closed || t !== thread) {
      return;
    }
    cause = err;
    writes.failed(storageUnavailable(err.message, err));
    log?.error({ err }, 'the embedded database broke; reopening it (the WAL is replayed)');
    reopening ??= reopen(t).finally(() => (reopening = undefined));
  };
  const open = async (): Promise<PgliteThread> => {
    // A thread that breaks while still opening just fails to open (nothing to reopen yet).
    const opening: { t?: PgliteThread } = {};
    opening.t = await openThread(data, (err) => opening.t && broke(opening.t)(err));
    return opening.t;
  };
  thread = await open().catch(async (err: unknown) => {
    throw new DbError(
      `the embedded database in ${opts.dataDir} did not open: ${(err as Error).message}${await diskHint(opts.dataDir)}`,
    );
  });

  async function reopen(old: PgliteThread): Promise<void> {
    await old.terminate();
    const backoff = new Backoff(REOPEN.initialMs, REOPEN.maxMs);
    for (let attempt = 1; !closed; attempt++) {
      try {
        const next = await open();
        if (closed) {
          await next.close();
          return;
        }
        thread = next;
        reopens++;
        cause = undefined;
        log?.warn({ attempt }, 'the embedded database is open again');
        return;
      } catch (err) {
        const hint = await diskHint(opts.dataDir);
        log?.warn({ err, attempt, hint }, 'the embedded database cannot open yet; retrying');
        await sleep(Math.max(100, backoff.next()));
      }
    }
  }

  /** Sends to `t` (the current thread unless a transaction holds an older one). */
  const call = async <T>(req: Request, t: PgliteThread = thread): Promise<T> => {
    const fault: Error | undefined = t.broken ?? cause;
    if (reopening || t !== thread || fault) {
      throw storageUnavailable(
        'the embedded database is reopening after a fault; retry later',
        fault,
      );
    }
    try {
      return await t.call<T>(req);
    } catch (err) {
      const fault = t.broken
        ? storageUnavailable('the embedded database broke; it is reopened, retry later', t.broken)
        : err;
      writes.failed(fault);
      throw fault;
    }
  };
  const query = <T>(sql: string, params?: unknown[], tx?: number, t?: PgliteThread) =>
    call<QueryResult<T>>({ op: 'query', sql, params, ...(tx === undefined ? {} : { tx }) }, t);

  await lookAtFree();
  const freeTimer = setInterval(() => void lookAtFree(), 1000);
  freeTimer.unref();
  const db: Db = {
    kind: 'pglite',
    query: (sql, params) => query(sql, params),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const t = thread;
      const tx = await call<number>({ op: 'begin' }, t);
      let result: T;
      try {
        result = await fn({ query: (sql, params) => query(sql, params, tx, t) });
      } catch (err) {
        await call({ op: 'rollback', tx }, t).catch(() => undefined);
        throw err;
      }
      await call({ op: 'commit', tx }, t);
      writes.committed();
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
    writeState() {
      const full = noSpace();
      const why = (full?.cause as Error | undefined)?.message;
      return full ? { writable: false, at: free.at, error: why ?? full.message } : writes.state();
    },
    async probeWrite() {
      await lookAtFree();
      const full = noSpace();
      if (full) {
        throw full;
      }
      await commitProbe(db);
    },
    reopens: () => reopens,
    async close() {
      closed = true;
      clearInterval(freeTimer);
      await reopening;
      await thread.close();
    },
  };
  return db;
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** " (N bytes free on its volume)" for an error message, or nothing when unknown. */
async function diskHint(dir: string): Promise<string> {
  const free = await freeBytes(dir);
  return free !== undefined && free < 64 * 2 ** 20
    ? ` (only ${Math.round(free / 2 ** 10)} KiB free on its volume)`
    : '';
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
