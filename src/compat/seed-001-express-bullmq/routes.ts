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
import {
  documentationOnly,
  errorResponses,
  JSON_INGEST_ERRORS,
  Str,
  TopPaths,
} from '../seed-schemas.js';

export const SEED_001_TOP = 3;
export const SEED_001_NOT_FOUND = 'No analytics data found for the specified criteria.';

/**
 * Seed 001's JSend bodies: `{ status: "fail", errors: [{ path: "body.site_id", message:
 * "site_id is required" }] }` for invalid input, `{ status: "fail", message }` for other client
 * errors, `{ status: "error", message }` for server errors.
 */
function render(f: SeedFailure) {
  if (f.fields.length > 0) {
    return {
      status: 'fail',
      errors: f.fields.map((e) => {
        const path = e.field === 'body' || e.field.includes('.') ? e.field : `body.${e.field}`;
        return { path, message: `${path.slice(path.indexOf('.') + 1)} ${e.message}` };
      }),
    };
  }
  return { status: f.status >= 500 ? 'error' : 'fail', message: f.message };
}

const EventBody = Type.Object({
  site_id: Str('the site the event belongs to'),
  event_type: Str('e.g. "page_view"'),
  timestamp: Type.String({
    format: 'date-time',
    description: 'ISO 8601 datetime with Z or an offset',
  }),
  path: Type.Optional(Str('the URL path')),
  user_id: Type.Optional(Str("the user's unique identifier")),
  event_id: Type.Optional(Str('not in the seed: a client id for idempotent retries')),
});
const StatsQuery = Type.Object({
  site_id: Str(),
  date: Type.Optional(
    Type.String({ format: 'date', description: 'YYYY-MM-DD; all time when absent' }),
  ),
});
const StatsReply = Type.Object({
  status: Type.Literal('success'),
  data: Type.Object({
    site_id: Type.String(),
    date: Type.String({ description: 'the date asked for, or "all-time"' }),
    total_views: Type.Integer(),
    unique_users: Type.Integer(),
    top_paths: TopPaths,
  }),
});
/** JSend: `fail` with `errors` (invalid input) or `message` (other client errors), `error` with `message`. */
const Failure = Type.Object({
  status: Type.Union([Type.Literal('fail'), Type.Literal('error')]),
  errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  message: Type.Optional(Type.String()),
});

const required = (f: Field) => (f.state === 'absent' ? 'is required' : 'must be a string');

function toCanonical(body: unknown): Record<string, unknown> {
  const b = bodyObject(body);
  if (b === undefined) {
    throw new SeedError(400, 'body must be a JSON object', [
      { field: 'body', message: 'must be a JSON object' },
    ]);
  }
  const errors: { field: string; message: string }[] = [];
  const siteId = field(b, 'site_id');
  const eventType = field(b, 'event_type');
  const timestamp = field(b, 'timestamp');
  const type = eventType.state === 'ok' ? canonicalType(eventType.value) : undefined;
  if (siteId.state !== 'ok') {
    errors.push({ field: 'site_id', message: required(siteId) });
  }
  if (eventType.state !== 'ok') {
    errors.push({ field: 'event_type', message: required(eventType) });
  } else if (type === undefined) {
    errors.push({
      field: 'event_type',
      message: 'must be at most 64 characters with a letter or digit',
    });
  }
  if (timestamp.state !== 'ok') {
    errors.push({ field: 'timestamp', message: required(timestamp) });
  } else if (parseTimestamp(timestamp.value) === undefined) {
    errors.push({
      field: 'timestamp',
      message: 'must be an ISO 8601 datetime with Z or an offset',
    });
  }
  const optional = (['path', 'user_id', 'event_id'] as const).map(
    (name) => [name, field(b, name)] as const,
  );
  for (const [name, f] of optional) {
    if (f.state === 'invalid') {
      errors.push({ field: name, message: 'must be a string' });
    }
  }
  if (errors.length > 0) {
    throw invalidInput(errors);
  }
  const raw: Record<string, unknown> = { type, site_id: valueOf(siteId), ts: valueOf(timestamp) };
  for (const [name, f] of optional) {
    if (f.state === 'ok') {
      raw[name] = f.value;
    }
  }
  return raw;
}

/**
 * Seed 001 (Express + BullMQ + Prisma): `POST /api/ingestion/event`, `GET /api/reporting/stats`
 * (page views only, top 3 paths, `date` optional → "all-time", 404 without page views),
 * `GET /api/healthcheck`.
 */
export function seed001Routes(deps: {
  ingest: Ingest;
  db: Queryable;
  rateLimit?: OnRequest | undefined;
}) {
  return async (app: FastifyInstance) => {
    installSeedErrors(app, { fieldNames: { ts: 'timestamp', type: 'event_type' }, render });

    app.get(
      '/api/healthcheck',
      {
        schema: {
          summary: 'Seed 001: liveness',
          response: { 200: Type.Object({ message: Type.String() }) },
        },
      },
      async () => ({
        message: 'API is running, healthy, and ready!',
      }),
    );

    app.post(
      '/api/ingestion/event',
      {
        schema: {
          summary: 'Seed 001: ingest one site event; 202 once durable in the log',
          body: EventBody,
          response: {
            202: Type.Object({ status: Type.Literal('queued') }),
            ...errorResponses(Failure, ...JSON_INGEST_ERRORS),
          },
        },
        ...documentationOnly,
        ...limited(deps.rateLimit),
      },
      async (req, reply) => {
        await acceptOne(deps.ingest, req, toCanonical(req.body));
        return reply.code(202).send({ status: 'queued' });
      },
    );

    app.get(
      '/api/reporting/stats',
      {
        config: { access: { scope: 'read', site: querySite('site_id') } },
        schema: {
          summary:
            'Seed 001: page views, unique users and top 3 paths of a site on a day or of all time',
          querystring: StatsQuery,
          response: { 200: StatsReply, 400: Failure, 404: Failure, 500: Failure },
        },
        ...documentationOnly,
      },
      async (req, reply) => {
        const q = req.query as Record<string, unknown>;
        const siteId = field(q, 'site_id');
        const date = field(q, 'date');
        if (siteId.state !== 'ok') {
          throw invalidInput([{ field: 'query.site_id', message: required(siteId) }]);
        }
        if (date.state === 'invalid') {
          throw invalidInput([{ field: 'query.date', message: 'must be a string' }]);
        }
        const day = date.state === 'ok' ? seedDate('query.date', date.value) : undefined;
        const range = day === undefined ? ALL_TIME : { from: day, to: day };
        const s = await seedStats(deps.db, {
          siteId: siteId.value,
          ...range,
          top: SEED_001_TOP,
          pageViewsOnly: true,
        });
        if (s.views === 0) {
          return reply.code(404).send({ status: 'fail', message: SEED_001_NOT_FOUND });
        }
        return {
          status: 'success',
          data: {
            site_id: siteId.value,
            date: day ?? 'all-time',
            total_views: s.views,
            unique_users: s.uniqueUsers,
            top_paths: s.topPaths,
          },
        };
      },
    );
  };
}
