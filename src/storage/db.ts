import { AppError } from '../errors.js';

/** The one storage interface: PostgreSQL through `pg`, or embedded PGlite in a worker thread. */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  /**
   * Whether storage can write, as far as this process has seen: the outcome of the last commit
   * or storage fault (see WriteState). A read can succeed on a database that cannot write.
   */
  writeState(): WriteState;
  /**
   * The smallest write, to learn whether storage can write when nothing else did for a while
   * (`/health`, `/ready`); its outcome lands in writeState. Rejects when it cannot.
   */
  probeWrite(): Promise<void>;
  /**
   * How many times the database was reopened after it broke (the embedded one, after a full
   * disk or a crashed thread; always 0 for a server). A reopen loses the asynchronous commits
   * not yet flushed: whoever committed asynchronously must apply them again.
   */
  reopens(): number;
  /** The connection pool's state (PostgreSQL server only). */
  pool?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

const RETRIABLE_CLASSES = ['08', '40', '53', '57', '58'];
/**
 * Undefined column, table or function: our own SQL against a schema of another version (a
 * worker not yet upgraded while a newer process migrated). Not the event's fault: waiting for
 * the upgrade beats dead-lettering every event.
 */
const RETRIABLE_CODES = ['42703', '42P01', '42883'];

/**
 * Whether a storage error is worth retrying: connection loss, serialization failures,
 * resource exhaustion, shutdown. Data errors (class 22, 23…) are not: they fail every retry.
 */
export function isRetriableDbError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    return RETRIABLE_CLASSES.includes(code.slice(0, 2)) || RETRIABLE_CODES.includes(code);
  }
  return true;
}

/** What the last write told: `at` is when it was seen (ms), `error` why it failed. */
export interface WriteState {
  writable: boolean;
  at: number | undefined;
  error?: string;
}

/**
 * The database could not take the request now (reopening, full disk, connection lost): 503
 * with Retry-After. `message` is what a client reads; the database's own error, which may name
 * files or hosts, goes in `cause` (logs and `/health`).
 */
export function storageUnavailable(message: string, cause?: unknown): AppError {
  const err = new AppError('STORAGE_UNAVAILABLE', message, 503, undefined, 1);
  if (cause === undefined) {
    return err;
  }
  // In the stack too: a start-up that fails prints the stack, and must say what failed.
  const detail = cause instanceof Error ? (cause.stack ?? cause.message) : JSON.stringify(cause);
  err.stack = `${err.stack}\ncaused by: ${detail}`;
  return Object.assign(err, { cause });
}

/**
 * A fault of storage itself, not of the statement: connection loss, disk full or out of
 * resources, shutdown, a crashed or reopening embedded database.
 */
export function isStorageFault(err: unknown): boolean {
  if (err instanceof AppError) {
    return err.code === 'STORAGE_UNAVAILABLE';
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    // 57014 is a statement cancelled (a timeout), not the database going away.
    return ['08', '53', '57', '58'].includes(code.slice(0, 2)) && code !== '57014';
  }
  // No SQLSTATE: a socket error (ECONNREFUSED, ETIMEDOUT) or the pool's own timeout.
  return true;
}

/**
 * Tracks WriteState from what the database answers: a commit proves it can write, a storage
 * fault that it cannot (a statement's own error, 23505 say, tells nothing).
 */
export function createWriteTracker(clock: () => number = Date.now) {
  let state: WriteState = { writable: true, at: undefined };
  return {
    committed(): void {
      state = { writable: true, at: clock() };
    },
    failed(err: unknown): void {
      if (isStorageFault(err)) {
        const detail = (err as { cause?: unknown }).cause ?? err;
        state = {
          writable: false,
          at: clock(),
          error: (detail as Error).message ?? String(detail),
        };
      }
    },
    state: (): WriteState => state,
  };
}

/**
 * A transaction that takes a transaction id, so that its commit writes and flushes the WAL
 * (it fails once the WAL cannot grow). It does not extend a table: pglite-db.ts adds a look at
 * the free space.
 */
export async function commitProbe(db: Pick<Db, 'transaction'>): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SET LOCAL synchronous_commit = on');
    await tx.query('/* storage:write-probe */ SELECT txid_current()');
  });
}
