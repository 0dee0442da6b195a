import { randomUUID } from 'node:crypto';
import type { Credentials } from '../../config.js';
import { querySite } from '../../auth/access.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { LIMITS } from '../../events/event.js';
import { parseTimestamp } from '../../events/time.js';
import type { Ingest } from '../../ingest/ingest.js';
import type { Queryable } from '../../storage/db.js';
import { installSeedErrors, invalidInput, type SeedFailure } from '../seed-errors.js';
import {
  acceptOne,
  bodyObject,
  canonicalType,
  cookieValue,
  field,
  MAX_TYPE,
  valueOf,
} from '../seed-input.js';
import {
  registerQueueActions,
  registerQueueRoutes,
  type QueueActions,
  type QueueSources,
} from './queues.js';
import { limited, type OnRequest } from '../seed-rate-limit.js';
import { seedDate, seedStats } from '../seed-reports.js';
import {
  documentationOnly,
  errorResponses,
  JSON_INGEST_ERRORS,
  Str,
  TopPaths,
} from '../seed-schemas.js';

export const SEED_003_TOP = 10;
export const VISITOR_COOKIE = 'visitor_id';
export const VISITOR_MAX_AGE_S = 365 * 24 * 3600;

/** NestJS bodies: validation → `message: string[]`, other errors → `message: string`. */
function render(f: SeedFailure) {
  const message = f.fields.length > 0 ? f.fields.map((e) => `${e.field} ${e.message}`) : f.message;
  return { statusCode: f.status, message, error: f.reason };
}

const EventBody = Type.Object({
  siteId: Str('your website or application'),
  eventType: Str('e.g. page_view, click, signup'),
  path: Str('URL path or resource identifier'),
  timestamp: Type.String({ format: 'date-time', description: 'ISO 8601, with Z or an offset' }),
  eventId: Type.Optional(Str('optional unique event id (UUID v4); generated when absent')),
});
const Accepted = Type.Object({
  success: Type.Boolean(),
  eventId: Type.String(),
  visitorId: Type.String(),
});
const StatsQuery = Type.Object({
  siteId: Str(),
  date: Type.String({ format: 'date', description: 'YYYY-MM-DD' }),
});
const StatsReply = Type.Object({
  siteId: Type.String(),
  date: Type.String(),
  totalViews: Type.Integer({ description: 'events of every type that day' }),
  uniqueUsers: Type.Integer(),
  topPaths: TopPaths,
});
/** NestJS's error body: `message` is the list of validation errors, else one line. */
const NestError = Type.Object({
  statusCode: Type.Integer(),
  message: Type.Union([Type.String(), Type.Array(Type.String())]),
  error: Type.String(),
});
const NotFound = Type.Object({
  statusCode: Type.Integer(),
  message: Type.String(),
  error: Type.Optional(Type.String()),
});

const FIELD_NAMES = {
  site_id: 'siteId',
  type: 'eventType',
  ts: 'timestamp',
  event_id: 'eventId',
  visitor_id: 'visitorId',
};

function toCanonical(body: unknown): Record<string, unknown> {
  const b = bodyObject(body);
  if (b === undefined) {
    throw invalidInput([{ field: 'body', message: 'must be a JSON object' }]);
  }
  const errors: { field: string; message: string }[] = [];
  const f = Object.fromEntries(
    ['siteId', 'eventType', 'path', 'timestamp', 'eventId'].map((n) => [n, field(b, n)]),
  );
  for (const name of ['siteId', 'eventType', 'path', 'timestamp']) {
    const s = f[name]!.state;
    if (s !== 'ok') {
      errors.push({
        field: name,
        message: s === 'absent' ? 'should not be empty' : 'must be a string',
      });
    }
  }
  const eventType = valueOf(f.eventType!);
  const type = eventType === undefined ? undefined : canonicalType(eventType);
  if (eventType !== undefined && type === undefined) {
    errors.push({
      field: 'eventType',
      message: `must be shorter than or equal to ${MAX_TYPE} characters, with a letter or digit`,
    });
  }
  const ts = valueOf(f.timestamp!);
  if (ts !== undefined && parseTimestamp(ts) === undefined) {
    errors.push({ field: 'timestamp', message: 'must be a valid ISO 8601 date string' });
  }
  if (f.eventId!.state === 'invalid') {
    errors.push({ field: 'eventId', message: 'must be a string' });
  }
  if (errors.length > 0) {
    throw invalidInput(errors);
  }
  const eventId = valueOf(f.eventId!);
  return {
    type,
    site_id: valueOf(f.siteId!),
    path: valueOf(f.path!),
    ts,
    ...(eventId ? { event_id: eventId } : {}),
  };
}

/** The visitor_id cookie when usable as a canonical visitor id, else a new one to set. */
function visitorOf(req: FastifyRequest): { id: string; isNew: boolean } {
  const v = cookieValue(req.headers.cookie, VISITOR_COOKIE);
  if (v !== undefined && v.length <= LIMITS.user && /^[\x21-\x7e]+$/.test(v)) {
    return { id: v, isNew: false };
  }
  return { id: randomUUID(), isNew: true };
}

const visitorCookie = (id: string, secure: boolean) =>
  `${VISITOR_COOKIE}=${encodeURIComponent(id)}; Max-Age=${VISITOR_MAX_AGE_S}; Path=/; ` +
  `Expires=${new Date(Date.now() + VISITOR_MAX_AGE_S * 1000).toUTCString()}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;

/**
 * Seed 003 (NestJS + BullMQ), camelCase: `POST /api/event` (visitor_id cookie read or set) and
 * `GET /api/stats` (every event type, top 10 paths, 404 when the day has no events),
 * `GET /api/queues/health` and the `GET /api/queues/admin` page (its actions:
 * seed003QueueActionRoutes).
 */
export function seed003Routes(deps: {
  ingest: Ingest;
  db: Queryable;
  queues: QueueSources;
  rateLimit?: OnRequest | undefined;
  bullBoard?: Credentials | undefined;
}) {
  return async (app: FastifyInstance) => {
    installSeedErrors(app, { fieldNames: FIELD_NAMES, render });
    registerQueueRoutes(app, deps.queues, errorResponses(NestError, 500, 503), deps.bullBoard);

    app.post(
      '/api/event',
      {
        schema: {
          summary:
            'Seed 003: ingest one site event, visitor from the visitor_id cookie (set when absent); 202',
          body: EventBody,
          response: { 202: Accepted, ...errorResponses(NestError, ...JSON_INGEST_ERRORS) },
        },
        ...documentationOnly,
        ...limited(deps.rateLimit),
      },
      async (req, reply) => {
        const raw = toCanonical(req.body);
        const visitor = visitorOf(req);
        const event = await acceptOne(deps.ingest, req, { ...raw, visitor_id: visitor.id });
        if (visitor.isNew) {
          void reply.header('set-cookie', visitorCookie(visitor.id, req.protocol === 'https'));
        }
        return reply
          .code(202)
          .send({ success: true, eventId: event.event_id, visitorId: visitor.id });
      },
    );

    app.get(
      '/api/stats',
      {
        config: { access: { scope: 'read', site: querySite('siteId') } },
        schema: {
          summary:
            'Seed 003: events, unique users and top 10 paths of a site on a day; 404 without events',
          querystring: StatsQuery,
          response: { 200: StatsReply, 400: NestError, 404: NotFound, 500: NestError },
        },
        ...documentationOnly,
      },
      async (req, reply) => {
        const q = req.query as Record<string, unknown>;
        const siteId = field(q, 'siteId');
        const date = field(q, 'date');
        if (siteId.state !== 'ok' || date.state !== 'ok') {
          throw invalidInput(
            Object.entries({ siteId, date })
              .filter(([, f]) => f.state !== 'ok')
              .map(([name, f]) => ({
                field: name,
                message: f.state === 'absent' ? 'should not be empty' : 'must be a string',
              })),
          );
        }
        const day = seedDate(
          'date',
          date.value,
          'must be a valid ISO 8601 date string (YYYY-MM-DD)',
        );
        const s = await seedStats(deps.db, {
          siteId: siteId.value,
          from: day,
          to: day,
          top: SEED_003_TOP,
          pageViewsOnly: false,
        });
        if (s.events === 0) {
          return reply.code(404).send({
            statusCode: 404,
            message: `No stats found for site ${siteId.value} on ${day}`,
          });
        }
        return {
          siteId: siteId.value,
          date: day,
          totalViews: s.events,
          uniqueUsers: s.uniqueUsers,
          topPaths: s.topPaths,
        };
      },
    );
  };
}

/**
 * Seed 003's queue page actions (pause, resume, retry), in the seed's error shape. Apart from
 * seed003Routes because they act on this process's aggregator and replay dead letters.
 */
export function seed003QueueActionRoutes(deps: {
  actions: QueueActions;
  bullBoard?: Credentials | undefined;
}) {
  return async (app: FastifyInstance) => {
    installSeedErrors(app, { fieldNames: FIELD_NAMES, render });
    registerQueueActions(
      app,
      deps.actions,
      errorResponses(NestError, 400, 401, 403, 409, 429, 500, 503),
      deps.bullBoard,
    );
  };
}
