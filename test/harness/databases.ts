/**
 * Throw-away PostgreSQL databases on a real server, for the tests and the benchmark. Only names
 * this module would generate (`tally_test_…`, `tally_bench_…`) are created or dropped, so that a
 * wrong argument can never drop a real database.
 */
import pg from 'pg';

const THROWAWAY = /^tally_(test|bench)_[a-z0-9_]+$/;

export interface ThrowawayDatabase {
  name: string;
  /** `postgres://…/<name>` on the admin URL's server. */
  url: string;
  /** DROP DATABASE … WITH (FORCE): connections still open are ended. */
  drop: () => Promise<void>;
}

/** `tally_<kind>_<tag>`, with anything but [a-z0-9_] in the tag made `_`. */
export function throwawayName(kind: 'test' | 'bench', tag: string): string {
  return `tally_${kind}_${tag.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
}

/** `postgres://…/<db>` on the same server as `adminUrl`. */
export function databaseUrl(adminUrl: string, db: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Runs `fn` on a connected client and ends the connection, whatever `fn` does. */
export async function withClient<T>(
  config: pg.ClientConfig,
  fn: (c: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(config);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** CREATE DATABASE `name` (see throwawayName) on the server of `adminUrl`. */
export async function createDatabase(adminUrl: string, name: string): Promise<ThrowawayDatabase> {
  refuseUnlessThrowaway(name);
  await withClient({ connectionString: adminUrl }, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: databaseUrl(adminUrl, name),
    drop: () => dropDatabase(adminUrl, name),
  };
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  refuseUnlessThrowaway(name);
  await withClient({ connectionString: adminUrl }, (c) =>
    c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  );
}

function refuseUnlessThrowaway(name: string): void {
  if (!THROWAWAY.test(name)) {
    throw new Error(
      `refusing database name ${name}: not a throw-away (tally_test_…, tally_bench_…)`,
    );
  }
}
