import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { EventInput } from '../events/event.js';
import { ErrorBody } from '../http/error-handler.js';
import { requestContext } from '../http/request-context.js';
import type { Ingest } from './ingest.js';

const IngestBody = Type.Union([
  EventInput,
  Type.Array(EventInput),
  Type.Object({ events: Type.Array(EventInput) }),
]);
const Accepted = Type.Object({ accepted: Type.Integer(), event_ids: Type.Array(Type.String()) });

/** `POST /v1/events`: one event, an array, or `{ events: [...] }`; JSON or text/plain (sendBeacon). */
export function ingestRoutes(ingest: Ingest) {
  return async (app: FastifyInstance) => {
    app.post(
      '/v1/events',
      {
        schema: {
          summary: 'Ingest events (all-or-nothing); 202 once durable in the log',
          body: IngestBody,
          response: {
            202: Accepted,
            400: ErrorBody,
            401: ErrorBody,
            403: ErrorBody,
            413: ErrorBody,
            415: ErrorBody,
            503: ErrorBody,
          },
        },
        // The body is validated per event by normalizeEvent, which reports every error with its
        // index and field; the schema above documents it.
        validatorCompiler: () => () => true,
      },
      async (req, reply) => {
        const body = req.body;
        const raw = Array.isArray(body) ? body : isWrapper(body) ? body.events : [body];
        const events = await ingest.accept(raw, requestContext(req));
        return reply
          .code(202)
          .send({ accepted: events.length, event_ids: events.map((e) => e.event_id) });
      },
    );
  };
}

function isWrapper(body: unknown): body is { events: unknown[] } {
  return (
    typeof body === 'object' &&
    body !== null &&
    Array.isArray((body as { events?: unknown }).events) &&
    Object.keys(body).length === 1
  );
}
