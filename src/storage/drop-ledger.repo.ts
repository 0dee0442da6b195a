import { dayOf } from '../events/time.js';
import type { Queryable } from './db.js';

/**
 * The drop ledger: what was not counted, per UTC day and reason. Written by the edge (refused
 * requests, flushed each second) and by the aggregator (duplicates, dead letters, in its batch's
 * transaction).
 */
export async function addDrops(
  tx: Queryable,
  now: number,
  drops: Record<string, number>,
): Promise<void> {
  const reasons = Object.keys(drops)
    .filter((r) => drops[r]! > 0)
    .sort();
  if (reasons.length === 0) {
    return;
  }
  await tx.query(
    '/* drops:add */ INSERT INTO drop_ledger (day, reason, events) SELECT $1::date, * FROM unnest($2::text[], $3::int8[]) ON CONFLICT (day, reason) DO UPDATE SET events = drop_ledger.events + EXCLUDED.events',
    [dayOf(now), reasons, reasons.map((r) => drops[r])],
  );
}
