import type { FastifyInstance } from 'fastify';
import { querySite } from '../auth/access.js';
import { Type, type Static } from '@sinclair/typebox';
import { invalidParameter, notFound } from '../errors.js';
import { DAY_MS, dayOf, hourOf, minuteOf } from '../events/time.js';
import { ErrorBody } from '../http/error-handler.js';
import type { Queryable } from '../storage/db.js';
import { dateRange, day, instant } from './params.js';
import { FilterEcho, FilterParam, parseFilter } from './dimension-params.js';
import { dimensionRoutes } from './dimension.routes.js';
import { filteredSeries, filteredStats } from './reports/filtered.js';
import { AD_DIMENSIONS, adStats, type AdDimension } from './reports/ad-stats.js';
import { deadLetter, deadLetters, dropsByReason, siteDropsByReason } from './reports/pipeline.js';
import { siteStats } from './reports/site-stats.js';
import { siteTimeseries } from './reports/site-timeseries.js';

export const MAX_TOP = 1000;
export const MAX_SERIES_BUCKETS = 10_000;
export const MAX_AD_ROWS = 10_000;
export const MAX_AD_BUCKETS = 100_000;

/** A string enum as JSON Schema `enum`: one clear error ("must be one of …") instead of anyOf noise. */
const Enum = <T extends string>(values: readonly T[], dflt: T) =>
  Type.Unsafe<T>({ type: 'string', enum: values, default: dflt });

const SiteId = Type.String({ minLength: 1, maxLength: 128 });
const DateParam = Type.String({ maxLength: 40 });
const Errors = { 400: ErrorBody };

const StatsQuery = Type.Object({
  site_id: SiteId,
  date: Type.Optional(DateParam),
  from: Type.Optional(DateParam),
  to: Type.Optional(DateParam),
  top: Type.Integer({ minimum: 1, maximum: MAX_TOP, default: 10 }),
  filter: Type.Optional(FilterParam),
});
const FILTERED = 'absent with a filter';
const StatsReply = Type.Object({
  site_id: Type.String(),
  from: Type.String(),
  to: Type.String(),
  filter: Type.Optional(FilterEcho),
  total_views: Type.Integer(),
  total_events: Type.Integer(),
  unique_users: Type.Optional(Type.Integer({ description: 'absent with a path filter' })),
  top_paths: Type.Optional(
    Type.Array(Type.Object({ path: Type.String(), views: Type.Integer() }), {
      description: FILTERED,
    }),
  ),
  events_by_type: Type.Optional(
    Type.Record(Type.String(), Type.Integer(), { description: FILTERED }),
  ),
});

const SeriesQuery = Type.Object({
  site_id: SiteId,
  from: DateParam,
  to: DateParam,
  interval: Enum(['hour', 'day'] as const, 'day'),
  filter: Type.Optional(FilterParam),
});
const SeriesReply = Type.Object({
  site_id: Type.String(),
  interval: Type.String(),
  filter: Type.Optional(FilterEcho),
  from: Type.String(),
  to: Type.String(),
  buckets: Type.Array(
    Type.Object({
      bucket: Type.String(),
      views: Type.Integer(),
      events: Type.Integer(),
      unique_users: Type.Optional(Type.Integer()),
    }),
  ),
});

const Id = Type.Optional(Type.String({ minLength: 1, maxLength: 128 }));
const AdsQuery = Type.Object({
  from: DateParam,
  to: DateParam,
  interval: Enum(['minute', 'hour', 'day'] as const, 'hour'),
  group_by: Enum(AD_DIMENSIONS, 'ad_id'),
  ad_id: Id,
  ad_unit_id: Id,
  campaign_id: Id,
  creative_id: Id,
  account_id: Id,
  limit: Type.Integer({ minimum: 1, maximum: MAX_AD_ROWS, default: 1000 }),
});
const AdsReply = Type.Object({
  interval: Type.String(),
  group_by: Type.String(),
  from: Type.String(),
  to: Type.String(),
  rows: Type.Array(
    Type.Object({
      bucket: Type.String(),
      group: Type.String(),
      impressions: Type.Integer(),
      clicks: Type.Integer(),
      ctr: Type.Number(),
    }),
  ),
});

const DropsQuery = Type.Object({
  from: Type.Optional(DateParam),
  to: Type.Optional(DateParam),
  site_id: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      description: "one site's drops per event day (reasons kept per site: bot)",
    }),
  ),
});
const DropsReply = Type.Object({
  drops: Type.Record(Type.String(), Type.Integer()),
  total: Type.Integer(),
});
const DeadQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  replayed: Type.Optional(
    Type.Boolean({ description: 'true: only those replayed; false: only those not yet replayed' }),
  ),
  reason: Type.Optional(
    Type.String({ minLength: 1, maxLength: 1000, description: 'only reasons containing this' }),
  ),
});
const DeadLetterItem = Type.Object({
  id: Type.Integer(),
  failed_at: Type.String(),
  event_id: Type.Union([Type.String(), Type.Null()]),
  reason: Type.String(),
  payload: Type.String(),
  replayed_at: Type.Union([Type.String(), Type.Null()]),
  replays: Type.Integer(),
});
const DeadReply = Type.Object({ total: Type.Integer(), items: Type.Array(DeadLetterItem) });
const DeadParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: DAY_MS } as const;
const floorTo = {
  minute: minuteOf,
  hour: hourOf,
  day: (ms: number) => `${dayOf(ms)}T00:00:00.000Z`,
} as const;

/** Reporting reads rollups only. */
export function reportingRoutes(db: Queryable) {
  return async (app: FastifyInstance) => {
    await dimensionRoutes(db)(app);

    app.get(
      '/v1/stats',
      {
        config: { access: { scope: 'read', site: querySite() } },
        schema: { querystring: StatsQuery, response: { 200: StatsReply, ...Errors } },
      },
      async (req) => {
        const q = req.query as Static<typeof StatsQuery>;
        const { from, to } = dateRange(q);
        const filter = parseFilter(q.filter);
        if (filter) {
          return {
            site_id: q.site_id,
            from,
            to,
            ...(await filteredStats(db, q.site_id, from, to, filter)),
          };
        }
        return {
          site_id: q.site_id,
          from,
          to,
          ...(await siteStats(db, q.site_id, from, to, q.top)),
        };
      },
    );

    app.get(
      '/v1/stats/timeseries',
      {
        config: { access: { scope: 'read', site: querySite() } },
        schema: { querystring: SeriesQuery, response: { 200: SeriesReply, ...Errors } },
      },
      async (req) => {
        const q = req.query as Static<typeof SeriesQuery>;
        const { from, to, days } = dateRange({ from: q.from, to: q.to });
        const filter = parseFilter(q.filter);
        if (filter) {
          if (q.interval !== 'day') {
            throw invalidParameter(
              'interval',
              'a filter needs interval=day (dimensions are daily)',
            );
          }
          const buckets = await filteredSeries(db, q.site_id, from, to, filter);
          return { site_id: q.site_id, interval: q.interval, filter, from, to, buckets };
        }
        const buckets = q.interval === 'day' ? days : days * 24;
        if (buckets > MAX_SERIES_BUCKETS) {
          throw invalidParameter(
            'to',
            `${buckets} ${q.interval} buckets requested; the maximum is ${MAX_SERIES_BUCKETS}`,
          );
        }
        const points = await siteTimeseries(
          db,
          q.site_id,
          day('from', from),
          day('to', to),
          q.interval,
        );
        return { site_id: q.site_id, interval: q.interval, from, to, buckets: points };
      },
    );

    app.get(
      '/v1/ads/stats',
      {
        config: { access: { scope: 'read' } },
        schema: { querystring: AdsQuery, response: { 200: AdsReply, ...Errors } },
      },
      async (req) => {
        const q = req.query as Static<typeof AdsQuery>;
        const fromMs = instant('from', q.from, false);
        const toMs = instant('to', q.to, true);
        if (fromMs > toMs) {
          throw invalidParameter('from', `${q.from} is after to=${q.to}`);
        }
        const buckets = Math.floor((toMs - fromMs) / BUCKET_MS[q.interval]) + 1;
        if (buckets > MAX_AD_BUCKETS) {
          throw invalidParameter(
            'to',
            `${buckets} ${q.interval} buckets requested; the maximum is ${MAX_AD_BUCKETS}: use a coarser interval or a shorter range`,
          );
        }
        const filters: Partial<Record<AdDimension, string>> = {};
        for (const d of AD_DIMENSIONS) {
          if (q[d] !== undefined) {
            filters[d] = q[d];
          }
        }
        const rows = await adStats(db, {
          interval: q.interval,
          fromBucket: floorTo[q.interval](fromMs),
          toBucket: floorTo[q.interval](toMs),
          groupBy: q.group_by,
          filters,
          limit: q.limit,
        });
        if (rows.length > q.limit) {
          throw invalidParameter(
            'limit',
            `the result has more than ${q.limit} rows; narrow from/to, add a filter, use a coarser interval or raise limit (at most ${MAX_AD_ROWS})`,
          );
        }
        return { interval: q.interval, group_by: q.group_by, from: q.from, to: q.to, rows };
      },
    );

    app.get(
      '/v1/drops',
      {
        config: { access: { scope: 'admin' } },
        schema: { querystring: DropsQuery, response: { 200: DropsReply, ...Errors } },
      },
      async (req) => {
        const q = req.query as Static<typeof DropsQuery>;
        if (q.from !== undefined) {
          day('from', q.from);
        }
        if (q.to !== undefined) {
          day('to', q.to);
        }
        const drops =
          q.site_id === undefined
            ? await dropsByReason(db, q.from, q.to)
            : await siteDropsByReason(db, q.site_id, q.from, q.to);
        return { drops, total: Object.values(drops).reduce((a, b) => a + b, 0) };
      },
    );

    app.get(
      '/v1/dead-letters',
      {
        config: { access: { scope: 'admin' } },
        schema: { querystring: DeadQuery, response: { 200: DeadReply, ...Errors } },
      },
      async (req) => deadLetters(db, req.query as Static<typeof DeadQuery>),
    );

    app.get(
      '/v1/dead-letters/:id',
      {
        config: { access: { scope: 'admin' } },
        schema: {
          params: DeadParams,
          response: { 200: DeadLetterItem, 404: ErrorBody, ...Errors },
        },
      },
      async (req) => {
        const { id } = req.params as Static<typeof DeadParams>;
        const found = await deadLetter(db, id);
        if (found === undefined) {
          throw notFound(`no dead letter ${id}`);
        }
        return found;
      },
    );
  };
}
