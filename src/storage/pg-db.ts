import pg from 'pg';
import {
  commitProbe,
  createWriteTracker,
  isStorageFault,
  storageUnavailable,
  type Db,
  type Queryable,
  type QueryResult,
} from './db.js';

/** PostgreSQL server through a `pg` pool; every session runs in UTC. */
export function createPgDb(opts: { url: string; poolSize: number }): Db {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize,
    options: '-c TimeZone=UTC',
    connectionTimeoutMillis: 5000,
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  const writes = createWriteTracker();
  /** Records a failure; a fault of the server itself becomes a 503 (reports, admin routes). */
  const fault = (err: unknown) => {
    writes.failed(err);
    return isStorageFault(err)
      ? storageUnavailable('the database cannot be reached or cannot write; retry later', err)
      : err;
  };
  const query = async <T>(sql: string, params?: unknown[]): Promise<QueryResult<T>> => {
    try {
      const r = await pool.query(sql, params as unknown[]);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw fault(err);
    }
  };
  return {
    kind: 'postgres',
    query,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect().catch((err: unknown) => {
        throw fault(err);
      });
      let broken = false;
      // A checked-out client whose connection dies emits 'error' between queries; without a
      // listener that would crash the process. The next query on it fails and is retried.
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      const tx: Queryable = {
        query: async <R>(sql: string, params?: unknown[]) => {
          try {
            const r = await client.query(sql, params as unknown[]);
            return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
          } catch (err) {
            throw fault(err);
          }
        },
      };
      try {
        await tx.query('BEGIN');
        const result = await fn(tx);
        await tx.query('COMMIT');
        writes.committed();
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    writeState: writes.state,
    probeWrite() {
      return commitProbe(this);
    },
    reopens: () => 0,
    close: () => pool.end(),
    pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
}
