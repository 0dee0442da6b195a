import type pg from 'pg';
import type { AdMinuteCounts } from '../../rollups/rollup.js';

/** A source record without its position and place (the reader adds them). */
export type RecordBody =
  | { kind: 'event'; event: Record<string, unknown>; receivedAt?: number }
  | { kind: 'ad-counts'; counts: AdMinuteCounts }
  | { kind: 'refused'; reason: string; message: string };

/** A row as read: every value is text (or null); key columns are `k0`, `k1`, …. */
export type TextRow = Record<string, string | null>;

/** What the import reads of one seed's table, as its README documents it. */
export interface SeedTable {
  /** The table as SQL names it (quoted: Prisma's `"Event"` is capitalised). */
  table: string;
  /** The README's columns this import reads: checked at open, for a clear error. */
  columns: string[];
  /** The unique, ordered key, column by column: pages are `WHERE (key) > (after)`. */
  key: string[];
  /** The ORDER BY of the rows whose keys make the fingerprint: the oldest, which stay first. */
  firstRows: string;
  /** The other columns read, as `expr AS alias` (aliases are the seed's request field names). */
  select: string[];
  toRecord(row: TextRow): RecordBody;
  /** Anything else to check at open (seed 002: aggregates left without their events). */
  check?(client: pg.Client): Promise<void>;
}

export const q = (col: string) => `"${col}"`;

/**
 * Epoch milliseconds of a timestamp column as text, whatever its type (`timestamptz`, or
 * `timestamp` read as UTC: the session runs in UTC). `infinity` stays as it is, to be refused.
 */
export const ms = (col: string) =>
  `CASE WHEN isfinite(${col}) THEN (extract(epoch FROM date_trunc('milliseconds', ${col})) * 1000)::int8::text ELSE ${col}::text END`;

export const msOf = (v: string | null | undefined): number | undefined =>
  v !== null && v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
