import { normalizeEvent } from '../../events/normalize.js';
import { ms, msOf, type SeedTable } from './table.js';

/** Seed 000 kept no events: `ad_stats_minute(bucket_start, ad_id PK)` counters per UTC minute. */
export function adStatsMinute(): SeedTable {
  const count = (v: string | null | undefined) =>
    typeof v === 'string' && /^\d+$/.test(v) && Number.isSafeInteger(Number(v))
      ? Number(v)
      : undefined;
  return {
    table: 'ad_stats_minute',
    // The README names the key only; the counters are taken to be `impressions` and `clicks`.
    columns: ['bucket_start', 'ad_id', 'impressions', 'clicks'],
    key: ['bucket_start', 'ad_id'],
    firstRows: 'bucket_start, ad_id',
    select: [
      `${ms('bucket_start')} AS minute`,
      'impressions::text AS impressions',
      'clicks::text AS clicks',
    ],
    toRecord(row) {
      const adId = row.k1 ?? '';
      // The ad id as the edge checks it: ad-counts bypass the importer's event validator.
      const v = normalizeEvent(
        { type: 'impression', ad_id: adId },
        0,
        { now: 0 },
        { minTsMs: -Infinity, maxFutureMs: Infinity, visitorSalt: () => '' },
      );
      if (!v.ok) {
        const message = v.errors.map((e) => `${e.field} ${e.message}`).join('; ');
        return { kind: 'refused', reason: 'invalid ad_id', message };
      }
      const minuteMs = msOf(row.minute);
      if (minuteMs === undefined) {
        return {
          kind: 'refused',
          reason: 'invalid bucket_start',
          message: `bucket_start ${row.minute} is not a time`,
        };
      }
      const impressions = count(row.impressions);
      const clicks = count(row.clicks);
      if (impressions === undefined || clicks === undefined) {
        return {
          kind: 'refused',
          reason: 'invalid counts',
          message: `impressions ${row.impressions} and clicks ${row.clicks} must be counts (whole numbers from 0)`,
        };
      }
      return {
        kind: 'ad-counts',
        counts: {
          minuteMs,
          // The seed kept only the ad: its minutes group under "" for every other dimension.
          dims: { ad_id: adId, ad_unit_id: '', campaign_id: '', creative_id: '', account_id: '' },
          impressions,
          clicks,
        },
      };
    },
  };
}
