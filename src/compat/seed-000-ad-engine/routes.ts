import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Ingest } from '../../ingest/ingest.js';
import { installSeedErrors, invalidInput, SeedError } from '../seed-errors.js';
import { acceptOne, bodyObject, field, valueOf } from '../seed-input.js';
import { limited, type OnRequest } from '../seed-rate-limit.js';
import { documentationOnly, errorResponses, JSON_INGEST_ERRORS, Str } from '../seed-schemas.js';

/**
 * Seed 000's errors (its README shows none): `{ status: "rejected", error, errors? }`, the
 * rejected counterpart of its `{ status: "accepted", event_id }`.
 */
const render = (f: { message: string; fields: { field: string; message: string }[] }) => ({
  status: 'rejected',
  error: f.message,
  ...(f.fields.length > 0 ? { errors: f.fields } : {}),
});

const EventBody = Type.Object({
  event_id: Type.Optional(Str('unique id (UUID recommended); derived from the event when absent')),
  type: Type.Union([Type.Literal('impression'), Type.Literal('click')]),
  ad_id: Str(),
  campaign_id: Type.Optional(Str()),
  user_id: Type.Optional(Str()),
  ts: Type.Optional(
    Type.Union([Type.String(), Type.Number()], {
      description: 'ISO 8601 datetime with Z or an offset, or epoch milliseconds; now when absent',
    }),
  ),
});
const Accepted = Type.Object({ status: Type.Literal('accepted'), event_id: Type.String() });
const Rejected = Type.Object({
  status: Type.Literal('rejected'),
  error: Type.String(),
  errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
});

/** Reads seed 000's event and maps it onto the canonical event (its field names are canonical). */
function toCanonical(body: unknown): Record<string, unknown> {
  const b = bodyObject(body);
  if (b === undefined) {
    throw new SeedError(400, 'body must be a JSON object', [
      { field: '', message: 'must be a JSON object' },
    ]);
  }
  const errors: { field: string; message: string }[] = [];
  const type = field(b, 'type');
  if (type.state === 'absent') {
    errors.push({ field: 'type', message: 'is required' });
  } else if (type.state === 'invalid' || (type.value !== 'impression' && type.value !== 'click')) {
    errors.push({ field: 'type', message: 'must be "impression" or "click"' });
  }
  const adId = field(b, 'ad_id');
  if (adId.state !== 'ok') {
    errors.push({
      field: 'ad_id',
      message: adId.state === 'absent' ? 'is required' : 'must be a string',
    });
  }
  const optional = ['event_id', 'campaign_id', 'user_id'].map(
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
  const raw: Record<string, unknown> = { type: valueOf(type), ad_id: valueOf(adId) };
  for (const [name, f] of optional) {
    if (f.state === 'ok') {
      raw[name] = f.value;
    }
  }
  // ISO-8601 (Z or an offset) or epoch ms; absent or '' means now. The canonical check bounds it.
  if (b.ts !== undefined && b.ts !== null && b.ts !== '') {
    raw.ts = b.ts;
  }
  return raw;
}

/**
 * Seed 000 (advertising, Express + Kafka): `POST /events` → 202 `{ status: "accepted", event_id }`,
 * rate-limited per client IP like its express-rate-limit (429 when RATE_LIMIT_MAX is passed).
 */
export function seed000Routes(deps: { ingest: Ingest; rateLimit?: OnRequest | undefined }) {
  return async (app: FastifyInstance) => {
    installSeedErrors(app, { render });
    app.post(
      '/events',
      {
        schema: {
          summary: 'Seed 000: ingest one ad impression or click; 202 once durable in the log',
          body: EventBody,
          response: { 202: Accepted, ...errorResponses(Rejected, ...JSON_INGEST_ERRORS) },
        },
        ...documentationOnly,
        ...limited(deps.rateLimit),
      },
      async (req, reply) => {
        const event = await acceptOne(deps.ingest, req, toCanonical(req.body));
        return reply.code(202).send({ status: 'accepted', event_id: event.event_id });
      },
    );
  };
}
