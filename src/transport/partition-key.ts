import type { CanonicalEvent } from '../events/event.js';

/**
 * The key that decides an event's partition, chosen so that one rollup row is fed by one
 * partition (no two workers contend for a row, and per-row order is the log order):
 * - `impression`/`click`: the ad rows are keyed by (bucket, ad_id, ad_unit_id, …), so `ad_id`,
 *   else `ad_unit_id`, pins every ad row to one partition;
 * - everything else: the site rows are keyed by `site_id`.
 * An ad event that also carries a `site_id` feeds its site's rows from the ad's partition; that is
 * the one exception (correctness never depends on it: the aggregator dedups and locks rows in
 * sorted order). Events with neither key spread by `event_id`.
 */
export function partitionKey(e: CanonicalEvent): string {
  if (e.type === 'impression' || e.type === 'click') {
    const ad = e.ad_id ?? e.ad_unit_id;
    if (ad !== undefined) {
      return e.ad_id !== undefined ? `a:${ad}` : `u:${ad}`;
    }
  }
  return e.site_id !== undefined ? `s:${e.site_id}` : `e:${e.event_id}`;
}

/** 32-bit FNV-1a over UTF-16 code units: stable across processes and versions, cheap. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function partitionOf(e: CanonicalEvent, partitions: number): number {
  return hashKey(partitionKey(e)) % partitions;
}
