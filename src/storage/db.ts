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
