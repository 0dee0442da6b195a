import type pg from 'pg';
import { seedRecordToEvent, type Seed, type SeedFieldOptions } from '../seed-fields.js';
import { ms, msOf, q, type SeedTable } from './table.js';

/**
 * A table of raw events. Its columns are read under the seed's request field names and the
 * record goes through `seedRecordToEvent`, the mapping of `--fields seed-00N` files: one
 * mapping for a seed's requests, whether they come from a file or from its own table.
 */
export function eventTable(
  seed: Seed,
  t: {
    table: string;
    key: string;
    /** Arrival column: `receivedAt`, and the fingerprint's order when keys are random (UUIDs). */
    received: string;
    fingerprintByArrival: boolean;
    /** Request field name → column. The event time is `timestamp` in every seed's request. */
    fields: Record<string, string>;
  },
  opts: SeedFieldOptions,
): SeedTable {
  const columns = [...new Set([t.key, t.received, ...Object.values(t.fields)])];
  return {
    table: t.table,
    columns,
    key: [q(t.key)],
    firstRows: t.fingerprintByArrival ? `${q(t.received)} ASC NULLS FIRST, ${q(t.key)}` : q(t.key),
    select: [
      `${ms(q(t.received))} AS received`,
      ...Object.entries(t.fields).map(([alias, col]) =>
        alias === 'timestamp' ? `${ms(q(col))} AS "timestamp"` : `${q(col)}::text AS ${q(alias)}`,
      ),
    ],
    toRecord(row) {
      const record: Record<string, unknown> = {};
      for (const alias of Object.keys(t.fields)) {
        record[alias] = alias === 'timestamp' ? (msOf(row.timestamp) ?? row.timestamp) : row[alias];
      }
      const r = seedRecordToEvent(seed, record, opts);
      if (!r.ok) {
        return { kind: 'refused', reason: r.reason, message: r.message };
      }
      const receivedAt = msOf(row.received);
      if (r.event.ts === undefined && receivedAt === undefined) {
        // The route would date it now; history without any time of its own cannot be dated.
        return {
          kind: 'refused',
          reason: 'missing timestamp',
          message: `neither ${t.fields.timestamp} nor ${t.received} is set`,
        };
      }
      return receivedAt === undefined
        ? { kind: 'event', event: r.event }
        : { kind: 'event', event: r.event, receivedAt };
    },
  };
}

/**
 * Seed 002's raw `events` are what is read; `metrics_hourly` is derived from them (and holds no
 * creative, and only hours: no minute can be told), so it is never read. If `events` is empty
 * while `metrics_hourly` is not, the raw events are gone (purged) and importing nothing would
 * silently lose the history: the import is refused at open instead.
 */
export async function eventsNotPurged(client: pg.Client): Promise<void> {
  const r = await client.query<{ events: boolean; metrics: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM events) AS events, to_regclass('metrics_hourly') IS NOT NULL AS metrics",
  );
  if (r.rows[0]!.events || !r.rows[0]!.metrics) {
    return;
  }
  // A separate statement: a table named in one is resolved even where a CASE would skip it.
  const m = await client.query('SELECT 1 FROM metrics_hourly LIMIT 1');
  if (m.rows.length > 0) {
    throw new Error(
      'seed-002: the events table is empty but metrics_hourly is not: only hourly aggregates are left, which Tally cannot import (no minute, no creative); nothing was imported',
    );
  }
}
