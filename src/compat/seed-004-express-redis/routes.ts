import type { FastifyInstance } from 'fastify';
import { querySite } from '../../auth/access.js';
import { Type } from '@sinclair/typebox';
import { parseTimestamp } from '../../events/time.js';
import type { Ingest } from '../../ingest/ingest.js';
import type { Queryable } from '../../storage/db.js';
import { installSeedErrors, invalidInput, SeedError, type SeedFailure } from '../seed-errors.js';
import { acceptOne, bodyObject, canonicalType, field, valueOf, type Field } from '../seed-input.js';
import { limited, type OnRequest } from '../seed-rate-limit.js';
import { ALL_TIME, seedDate, seedStats } from '../seed-reports.js';
import { documentationOnly, errorResponses, Str, TopPaths } from '../seed-schemas.js';

export const SEED_004_TOP = 10;
export const SEED_004_QUEUED = {
  status: 'queued',
  message: 'Event received and queued for processing',
} as const;

/** Its ingestion server: `{ errors: ["site_id is required", …] }`; 500 `{ error: "Internal server error" }`. */
const renderIngest = (f: SeedFailure) =>
  f.status >= 500 && f.status !== 503
    ? { error: 'Internal server error' }
    : {
        errors: f.fields.length > 0 ? f.fields.map((e) => `${e.field} ${e.message}`) : [f.message],
      };

/** Its reporting server: `{ error: "site_id is required" }`. */
const renderReport = (f: SeedFailure) => ({
  error: f.status >= 500 && f.status !== 503 ? 'Internal server error' : f.message,
});

const EventBody = Type.Object({
  site_id: Str('the site where the event occurred'),
  event_type: Str('e.g. page_view, click'),
  path: Str('the path on the site, e.g. /products/123'),
  timestamp: Type.Optional(
    Type.String({
      format: 'date-time',
      description: 'when the event occurred, ISO 8601 with Z or an offset; now when absent',
    }),
  ),
  user_id: Type.Optional(Str('the user who triggered the event')),
  event_id: Type.Optional(Str('not in the seed: a client id for idempotent retries')),
});
const Queued = Type.Object({
  status: Type.Literal(SEED_004_QUEUED.status),
  message: Type.String(),
});
const IngestErrors = Type.Object({ errors: Type.Array(Type.String()) });
const OneError = Type.Object({ error: Type.String() });
const StatsQuery = Type.Object({
  site_id: Str(),
  date: Type.Optional(
    Type.String({ format: 'date', description: 'YYYY-MM-DD; all time when absent' }),
  ),
});
const StatsReply = Type.Object({
  site_id: Type.String(),
  date: Type.Union([Type.String(), Type.Null()], {
    description: 'the date asked for; null for all time',
  }),
  total_views: Type.Integer(),
  unique_users: Type.Integer(),
  top_paths: TopPaths,
});

const required = (f: Field) => (f.state === 'absent' ? 'is required' : 'must be a string');

function toCanonical(body: unknown): Record<string, unknown> {
  const b = bodyObject(body);
  if (b === undefined) {
    throw invalidInput([{ field: 'body', message: 'must be a JSON object' }]);
  }
  const errors: { field: string; message: string }[] = [];
  const f = Object.fromEntries(
    ['site_id', 'event_type', 'path', 'timestamp', 'user_id', 'event_id'].map((n) => [
      n,
      field(b, n),
    ]),
  );
  for (const name of ['site_id', 'event_type', 'path']) {
    if (f[name]!.state !== 'ok') {
      errors.push({ field: name, message: required(f[name]!) });
    }
  }
  const eventType = valueOf(f.event_type!);
  const type = eventType === undefined ? undefined : canonicalType(eventType);
  if (eventType !== undefined && type === undefined) {
    errors.push({
      field: 'event_type',
      message: 'must be at most 64 characters with a letter or digit',
    });
  }
  for (const name of ['timestamp', 'user_id', 'event_id']) {
    if (f[name]!.state === 'invalid') {
      errors.push({ field: name, message: 'must be a string' });
    }
  }
  const ts = valueOf(f.timestamp!);
  if (ts !== undefined && parseTimestamp(ts) === undefined) {
    errors.push({
      field: 'timestamp',
      message: 'must be a valid ISO date string with Z or an offset',
    });
  }
  if (errors.length > 0) {
    throw invalidInput(errors);
  }
  const raw: Record<string, unknown> = {
    type,
    site_id: valueOf(f.site_id!),
    path: valueOf(f.path!),
  };
  for (const [name, canonical] of [
    ['timestamp', 'ts'],
    ['user_id', 'user_id'],
    ['event_id', 'event_id'],
  ] as const) {
    const v = valueOf(f[name]!);
    if (v !== undefined) {
      raw[canonical] = v;
    }
  }
  return raw;
}

/** Seed 004's ingestion server: `POST /event` → 202 `{ status: "queued", message }`. */
export function seed004IngestRoutes(deps: { ingest: Ingest; rateLimit?: OnRequest | undefined }) {
  return async (app: FastifyInstance) => {
    installSeedErrors(app, {
      fieldNames: { ts: 'timestamp', type: 'event_type' },
      render: renderIngest,
    });
    app.post(
      '/event',
      {
        schema: {
          summary: 'Seed 004: ingest one site event; 202 once durable in the log',
          body: EventBody,
          response: {
            202: Queued,
            ...errorResponses(IngestErrors, 400, 413, 415, 429, 503),
            500: OneError,
          },
        },
        ...documentationOnly,
        ...limited(deps.rateLimit),
      },
      async (req, reply) => {
        await acceptOne(deps.ingest, req, toCanonical(req.body));
        return reply.code(202).send(SEED_004_QUEUED);
      },
    );
  };
}

/**
 * Seed 004's reporting server: `GET /stats?site_id[&date]` → page views, unique users and top
 * 10 paths of a day or of all time (`date: null`); zeros for an unknown site. Also served on
 * REPORTING_PORT when it is set.
 */
export function seed004ReportingRoutes(deps: { db: Queryable }) {
  return async (app: FastifyInstance) => {
    installSeedErrors(app, { render: renderReport });
    app.get(
      '/stats',
      {
        config: { access: { scope: 'read', site: querySite('site_id') } },
        schema: {
          summary:
            'Seed 004: page views, unique users and top 10 paths of a site on a day or of all time',
          querystring: StatsQuery,
          response: { 200: StatsReply, ...errorResponses(OneError, 400, 500) },
        },
        ...documentationOnly,
      },
      async (req) => {
        const q = req.query as Record<string, unknown>;
        const siteId = field(q, 'site_id');
        const date = field(q, 'date');
        if (siteId.state !== 'ok') {
          throw new SeedError(400, `site_id ${required(siteId)}`);
        }
        if (date.state === 'invalid') {
          throw new SeedError(400, 'date must be given once');
        }
        const day = date.state === 'ok' ? seedDate('date', date.value) : undefined;
        const range = day === undefined ? ALL_TIME : { from: day, to: day };
        const s = await seedStats(deps.db, {
          siteId: siteId.value,
          ...range,
          top: SEED_004_TOP,
          pageViewsOnly: true,
        });
        return {
          site_id: siteId.value,
          date: day ?? null,
          total_views: s.views,
          unique_users: s.uniqueUsers,
          top_paths: s.topPaths,
        };
      },
    );
  };
}
