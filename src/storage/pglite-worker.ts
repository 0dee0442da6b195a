/**
 * Embedded PostgreSQL (PGlite) on its own thread: a PGlite query blocks its thread for tens of
 * milliseconds, which must never be the HTTP thread. Speaks a tiny request/response protocol.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { pgliteStartParams, WAL_CHECK_MS, WAL_CHECKPOINT_BYTES } from './pglite-settings.js';

export type WorkerRequest =
  | { id: number; op: 'query'; sql: string; params?: unknown[]; tx?: number }
  | { id: number; op: 'begin' }
  | { id: number; op: 'commit' | 'rollback'; tx: number }
  | { id: number; op: 'close' };

export type WorkerResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { message: string; code?: string; severity?: string } };

export interface WorkerData {
  dataDir: string;
  asyncCommit: boolean;
}

interface OpenTx {
  tx: Transaction;
  finish: { resolve: () => void; reject: (e: Error) => void };
  settled: Promise<unknown>;
}

const port = parentPort!;
const { dataDir, asyncCommit } = workerData as WorkerData;
const db = await PGlite.create(dataDir, {
  startParams: [...PGlite.defaultStartParams, ...pgliteStartParams()],
});
await db.exec(`SET TIME ZONE 'UTC'; SET synchronous_commit = ${asyncCommit ? 'off' : 'on'}`);
const txs = new Map<number, OpenTx>();
let nextTx = 1;

// A standalone PostgreSQL has no checkpointer: without this its WAL grows until the process
// stops (1.6 GB after importing 3M events), and a crash replays all of it at the next start
// (8 s for 410 MB). CHECKPOINT waits behind an open transaction like any query.
let checking: Promise<void> | undefined;
const walTimer = setInterval(() => {
  checking ??= checkpointIfDue()
    .catch((err: unknown) => {
      const severity = (err as { severity?: string }).severity;
      if (severity === 'PANIC' || severity === 'FATAL') {
        // Told unasked (id -1): the parent reopens the database even when nothing queries it.
        port.postMessage({
          id: -1,
          ok: false,
          error: { message: String((err as Error).message ?? err), severity },
        } satisfies WorkerResponse);
      } else {
        process.emitWarning(`embedded database checkpoint failed, will retry: ${String(err)}`);
      }
    })
    .finally(() => (checking = undefined));
}, WAL_CHECK_MS);
walTimer.unref();

async function checkpointIfDue(): Promise<void> {
  const r = await db.query<{ bytes: number }>(
    '/* storage:wal-since-checkpoint */ SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), redo_lsn)::float8 AS bytes FROM pg_control_checkpoint()',
  );
  if ((r.rows[0]?.bytes ?? 0) >= WAL_CHECKPOINT_BYTES) {
    await db.exec('CHECKPOINT');
  }
}

const plain = (rows: Record<string, unknown>[]) => {
  for (const row of rows) {
    for (const k in row) {
      if (typeof row[k] === 'bigint') {
        row[k] = Number(row[k]);
      }
    }
  }
  return rows;
};

async function handle(msg: WorkerRequest): Promise<unknown> {
  switch (msg.op) {
    case 'query': {
      const target = msg.tx === undefined ? db : txs.get(msg.tx)?.tx;
      if (!target) {
        throw new Error(`transaction ${msg.tx} is not open`);
      }
      const r = await target.query<Record<string, unknown>>(msg.sql, msg.params);
      return { rows: plain(r.rows), rowCount: r.affectedRows ?? r.rows.length };
    }
    case 'begin': {
      const id = nextTx++;
      return new Promise<number>((started, failed) => {
        let finish!: OpenTx['finish'];
        const done = new Promise<void>((resolve, reject) => (finish = { resolve, reject }));
        const settled = db.transaction(async (tx) => {
          txs.set(id, { tx, finish, settled });
          started(id);
          await done;
        });
        settled.catch((e: unknown) => failed(e instanceof Error ? e : new Error(String(e))));
      });
    }
    case 'commit':
    case 'rollback': {
      const open = txs.get(msg.tx);
      if (!open) {
        throw new Error(`transaction ${msg.tx} is not open`);
      }
      txs.delete(msg.tx);
      if (msg.op === 'commit') {
        open.finish.resolve();
        await open.settled;
      } else {
        open.finish.reject(new Error('rollback'));
        await open.settled.catch(() => undefined);
      }
      return null;
    }
    case 'close':
      clearInterval(walTimer);
      await checking;
      await db.close();
      return null;
  }
}

port.on('message', (msg: WorkerRequest) => {
  handle(msg).then(
    (result) => port.postMessage({ id: msg.id, ok: true, result } satisfies WorkerResponse),
    (err: unknown) => {
      const e = err as { message?: string; code?: string; severity?: string };
      port.postMessage({
        id: msg.id,
        ok: false,
        error: {
          message: e.message ?? String(err),
          ...(e.code ? { code: e.code } : {}),
          // PANIC: this instance is done for (pglite-thread.ts reopens the database).
          ...(e.severity ? { severity: e.severity } : {}),
        },
      } satisfies WorkerResponse);
    },
  );
});
port.postMessage({ id: 0, ok: true, result: 'ready' } satisfies WorkerResponse);
