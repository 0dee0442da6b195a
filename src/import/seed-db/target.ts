import type pg from 'pg';
import type { Seed } from '../seed-fields.js';

export interface SeedDbTarget {
  /** `seed-004 postgres://host:port/db`: no user, no password. */
  description: string;
  /** `seed-004:host:port/db`. */
  defaultName: string;
  client: pg.ClientConfig;
  /** Prisma's `?schema=` (seed 001's DATABASE_URL may carry one): the search_path to set. */
  schema: string | undefined;
}

/**
 * Where a seed's database is, from its URL. Every session runs in UTC with ISO dates, so key
 * values read as text are read back identically and zone-less timestamps read as UTC.
 */
export function seedDbTarget(seed: Seed, url: string): SeedDbTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${seed}: not a URL: give postgres://host:port/database`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new Error(
      `${seed}: ${u.protocol}// is not PostgreSQL: give postgres://host:port/database`,
    );
  }
  const schema = u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  const host = u.hostname || u.searchParams.get('host') || 'localhost';
  const port = u.port || u.searchParams.get('port') || '5432';
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const where = `${host}:${port}/${db}`;
  return {
    description: `${seed} postgres://${where}`,
    defaultName: `${seed}:${where}`,
    client: {
      connectionString: u.toString(),
      options: '-c TimeZone=UTC -c DateStyle=ISO,YMD',
      application_name: 'tally import',
      connectionTimeoutMillis: 10_000,
    },
    schema,
  };
}
