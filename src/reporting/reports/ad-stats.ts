import { AD_DIMENSIONS, type AdDimension } from '../../events/event.js';
import type { Queryable } from '../../storage/db.js';

export { AD_DIMENSIONS, type AdDimension };
export const AD_TABLES = { minute: 'ad_minute', hour: 'ad_hourly', day: 'ad_daily' } as const;

export interface AdRow {
  bucket: string;
  group: string;
  impressions: number;
  clicks: number;
  ctr: number;
}

/**
 * Impressions, clicks and CTR per bucket and group. Returns at most `limit + 1` rows so the
 * caller can tell the client the result was larger than allowed.
 */
export async function adStats(
  db: Queryable,
  q: {
    interval: keyof typeof AD_TABLES;
    fromBucket: string;
    toBucket: string;
    groupBy: AdDimension;
    filters: Partial<Record<AdDimension, string>>;
    limit: number;
  },
): Promise<AdRow[]> {
  const params: unknown[] = [q.fromBucket, q.toBucket];
  const where = ['bucket BETWEEN $1::timestamptz AND $2::timestamptz'];
  for (const dim of AD_DIMENSIONS) {
    const v = q.filters[dim];
    if (v !== undefined) {
      params.push(v);
      where.push(`${dim} = $${params.length}`);
    }
  }
  params.push(q.limit + 1);
  const r = await db.query<{
    bucket: Date | string;
    grp: string;
    impressions: number;
    clicks: number;
  }>(
    `/* report:ad-stats */ SELECT bucket, ${q.groupBy} AS grp, SUM(impressions)::int8 AS impressions, SUM(clicks)::int8 AS clicks
     FROM ${AD_TABLES[q.interval]} WHERE ${where.join(' AND ')}
     GROUP BY bucket, ${q.groupBy} ORDER BY bucket, ${q.groupBy} LIMIT $${params.length}`,
    params,
  );
  return r.rows.map((row) => {
    const impressions = Number(row.impressions);
    const clicks = Number(row.clicks);
    return {
      bucket: new Date(row.bucket).toISOString(),
      group: row.grp,
      impressions,
      clicks,
      ctr: impressions > 0 ? clicks / impressions : 0,
    };
  });
}
