import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { querySite } from '../auth/access.js';
import { invalidParameter } from '../errors.js';
import { minuteOf } from '../events/time.js';
import { ErrorBody } from '../http/error-handler.js';
import type { Queryable } from '../storage/db.js';
import {
  BREAKDOWN_DIMS,
  FilterEcho,
  FilterParam,
  parseFilter,
  type BreakdownDim,
} from './dimension-params.js';
import { dateRange } from './params.js';
import { breakdown, filteredBreakdown, typeEvents, type BreakdownOf } from './reports/breakdown.js';
import { filteredTotals, type Filter } from './reports/filtered.js';
import { realtime } from './reports/realtime.js';
import { siteTotals } from './reports/site-stats.js';

export const MAX_BREAKDOWN_ROWS = 1000;
export const MAX_REALTIME_TOP = 100;
/** Realtime covers the minute buckets of the last 5 minutes and the current one. */
export const REALTIME_WINDOW_MS = 5 * 60_000;

const SiteId = Type.String({ minLength: 1, maxLength: 128 });
const DateParam = Type.String({ maxLength: 40 });
const Errors = { 400: ErrorBody };
const FILTERED = 'absent with a filter: a filtered breakdown counts visitors only';

const BreakdownQuery = Type.Object({
  site_id: SiteId,
  date: Type.Optional(DateParam),
  from: Type.Optional(DateParam),
  to: Type.Optional(DateParam),
  dimension: Type.Unsafe<BreakdownDim>({
    type: 'string',
    enum: BREAKDOWN_DIMS,
    description: 'prop needs type and key',
  }),
  type: Type.Optional(
    Type.String({ minLength: 1, maxLength: 64, description: 'dimension=prop: the event type' }),
  ),
  key: Type.Optional(
    Type.String({ minLength: 1, maxLength: 128, description: 'dimension=prop: the property' }),
  ),
  limit: Type.Integer({ minimum: 1, maximum: MAX_BREAKDOWN_ROWS, default: 10 }),
  filter: Type.Optional(FilterParam),
});
const BreakdownReply = Type.Object({
  site_id: Type.String(),
  from: Type.String(),
  to: Type.String(),
  dimension: Type.String(),
  type: Type.Optional(Type.String()),
  key: Type.Optional(Type.String()),
  filter: Type.Optional(FilterEcho),
  totals: Type.Object(
    {
      views: Type.Integer(),
      events: Type.Integer(),
      visitors: Type.Integer(),
    },
    { description: 'with a filter: the figures of the filter value (as /v1/stats?filter=)' },
  ),
  rows: Type.Array(
    Type.Object({
      value: Type.String(),
      views: Type.Optional(Type.Integer({ description: FILTERED })),
      events: Type.Optional(Type.Integer({ description: FILTERED })),
      visitors: Type.Optional(Type.Integer({ description: 'absent for path and prop' })),
      share: Type.Number({
        description:
          "visitors / totals.visitors; path: views / totals.views; prop: events / the type's events",
      }),
    }),
  ),
});

const RealtimeQuery = Type.Object({
  site_id: SiteId,
  top: Type.Integer({ minimum: 1, maximum: MAX_REALTIME_TOP, default: 10 }),
});
const RealtimeReply = Type.Object({
  site_id: Type.String(),
  from: Type.String({ description: 'the first minute bucket counted' }),
  to: Type.String({ description: 'now' }),
  visitors: Type.Integer(),
  views: Type.Integer(),
  events: Type.Integer(),
  top_pages: Type.Array(Type.Object({ path: Type.String(), views: Type.Integer() })),
});

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/** Breakdowns by dimension and realtime: rollups only, read-scoped per site like /v1/stats. */
export function dimensionRoutes(db: Queryable, clock: () => number = Date.now) {
  return async (app: FastifyInstance) => {
    app.get(
      '/v1/stats/breakdown',
      {
        config: { access: { scope: 'read', site: querySite() } },
        schema: { querystring: BreakdownQuery, response: { 200: BreakdownReply, ...Errors } },
      },
      async (req) => {
        const q = req.query as Static<typeof BreakdownQuery>;
        const { from, to } = dateRange(q);
        const of = breakdownOf(q);
        const filter = parseFilter(q.filter);
        if (filter) {
          return filtered(q, from, to, of, filter);
        }
        const totals = await siteTotals(db, q.site_id, from, to);
        const rows = await breakdown(db, q.site_id, from, to, of, q.limit);
        const whole =
          of.dimension === 'prop' ? await typeEvents(db, q.site_id, from, to, of.type) : 0;
        return {
          site_id: q.site_id,
          from,
          to,
          dimension: q.dimension,
          ...(of.dimension === 'prop' ? { type: of.type, key: of.key } : {}),
          totals: { views: totals.views, events: totals.events, visitors: totals.users },
          rows: rows.map((r) => ({
            ...r,
            share:
              of.dimension === 'path'
                ? ratio(r.views, totals.views)
                : of.dimension === 'prop'
                  ? ratio(r.events, whole)
                  : ratio(r.visitors ?? 0, totals.users),
          })),
        };
      },
    );

    /** `filter=`: the visitors of the filter value, broken down (visitors only; see filteredBreakdown). */
    async function filtered(
      q: Static<typeof BreakdownQuery>,
      from: string,
      to: string,
      of: BreakdownOf,
      filter: Filter,
    ) {
      if (of.dimension === 'path' || of.dimension === 'prop') {
        throw invalidParameter(
          'filter',
          `dimension=${of.dimension} cannot be filtered: it keeps no per-visitor rows`,
        );
      }
      if (filter.dimension === 'path') {
        throw invalidParameter(
          'filter',
          'a breakdown cannot be filtered by path: paths keep no per-visitor rows',
        );
      }
      const f = { dimension: filter.dimension, value: filter.value };
      const totals = await filteredTotals(db, q.site_id, from, to, f);
      const rows = await filteredBreakdown(db, q.site_id, from, to, of.dimension, f, q.limit);
      const visitors = totals.visitors ?? 0;
      return {
        site_id: q.site_id,
        from,
        to,
        dimension: q.dimension,
        filter,
        totals: { views: totals.views, events: totals.events, visitors },
        rows: rows.map((r) => ({ ...r, share: ratio(r.visitors, visitors) })),
      };
    }

    app.get(
      '/v1/realtime',
      {
        config: { access: { scope: 'read', site: querySite() } },
        schema: { querystring: RealtimeQuery, response: { 200: RealtimeReply, ...Errors } },
      },
      async (req) => {
        const q = req.query as Static<typeof RealtimeQuery>;
        const now = clock();
        const from = minuteOf(now - REALTIME_WINDOW_MS);
        return {
          site_id: q.site_id,
          from,
          to: new Date(now).toISOString(),
          ...(await realtime(db, q.site_id, from, q.top)),
        };
      },
    );
  };
}

function breakdownOf(q: Static<typeof BreakdownQuery>): BreakdownOf {
  if (q.dimension !== 'prop') {
    for (const name of ['type', 'key'] as const) {
      if (q[name] !== undefined) {
        throw invalidParameter(name, 'is only for dimension=prop');
      }
    }
    return { dimension: q.dimension };
  }
  if (q.type === undefined) {
    throw invalidParameter('type', 'is required with dimension=prop (the event type)');
  }
  if (q.key === undefined) {
    throw invalidParameter('key', 'is required with dimension=prop (the property name)');
  }
  return { dimension: 'prop', type: q.type, key: q.key };
}
