import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { z } from 'zod';
import { AppError, type FieldError } from '../errors.js';
import { ErrorBody } from '../http/error-handler.js';
import { MAX_LISTED_SKIPS, type Replay, type ReplayRequest } from './dead-letters.js';

export const MAX_REPLAY_IDS = 10_000;
const SELECTORS = ['ids', 'reason', 'all'] as const;

const Id = z
  .number({ error: 'must be a dead-letter id (a positive integer)' })
  .int({ error: 'must be a dead-letter id (a positive integer)' })
  .min(1, { error: 'must be a dead-letter id (a positive integer)' })
  .max(Number.MAX_SAFE_INTEGER, { error: 'must be a dead-letter id (a positive integer)' });
const Cursor = z
  .number({ error: 'must be a non-negative integer' })
  .int({ error: 'must be a non-negative integer' })
  .min(0, { error: 'must be a non-negative integer' })
  .max(Number.MAX_SAFE_INTEGER, { error: 'must be a non-negative integer' });

/** The body of POST /v1/dead-letters/replay: exactly one of ids, reason and all. */
const ReplayBody = z.strictObject({
  ids: z
    .array(Id, { error: 'must be an array of dead-letter ids' })
    .min(1, { error: 'must list at least one id' })
    .max(MAX_REPLAY_IDS, { error: `must list at most ${MAX_REPLAY_IDS} ids` })
    .optional(),
  reason: z
    .string({ error: 'must be a string' })
    .min(1, { error: 'must not be empty' })
    .max(1000, { error: 'must be at most 1000 characters' })
    .optional(),
  all: z.literal(true, { error: 'must be true' }).optional(),
  again: z.boolean({ error: 'must be true or false' }).optional(),
  limit: Cursor.min(1, { error: 'must be a positive integer' }).optional(),
  after_id: Cursor.optional(),
  through_id: Cursor.optional(),
});
export type ReplayBody = z.infer<typeof ReplayBody>;

const invalid = (details: FieldError[]) =>
  new AppError(
    'INVALID_PARAMETER',
    details.map((d) => `${d.field}: ${d.message}`).join('; '),
    400,
    details,
  );

const issueDetail = (i: z.core.$ZodIssue): FieldError =>
  i.code === 'unrecognized_keys'
    ? { field: i.keys[0] ?? 'body', message: 'is not a field of this body' }
    : i.path.length === 0
      ? { field: 'body', message: 'must be a JSON object' }
      : { field: i.path.map(String).join('.'), message: i.message };

/** The request a body asks for, or a 400 naming each bad field. */
export function parseReplayBody(body: unknown): ReplayRequest {
  const parsed = ReplayBody.safeParse(body ?? {});
  if (!parsed.success) {
    throw invalid(parsed.error.issues.map(issueDetail));
  }
  const b = parsed.data;
  const given = SELECTORS.filter((s) => b[s] !== undefined);
  if (given.length !== 1) {
    const message = `give exactly one of ${SELECTORS.join(', ')}`;
    throw invalid(
      given.length === 0
        ? SELECTORS.map((field) => ({ field, message }))
        : given.slice(1).map((field) => ({ field, message: `${message} (${given[0]} is given)` })),
    );
  }
  return {
    filter: b.ids ? { ids: b.ids } : b.reason !== undefined ? { reason: b.reason } : { all: true },
    again: b.again ?? false,
    afterId: b.after_id,
    throughId: b.through_id,
    limit: b.limit,
  };
}

/** The body that asks for `req` (the CLI's HTTP client). */
export function replayBody(req: ReplayRequest): ReplayBody {
  return {
    ...req.filter,
    ...(req.again ? { again: true } : {}),
    ...(req.afterId === undefined ? {} : { after_id: req.afterId }),
    ...(req.throughId === undefined ? {} : { through_id: req.throughId }),
    ...(req.limit === undefined ? {} : { limit: req.limit }),
  };
}

/** For the OpenAPI document: the body is checked by parseReplayBody, which names every bad field. */
const ReplayBodyDoc = Type.Object({
  ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: MAX_REPLAY_IDS })),
  reason: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 1000,
      description: 'dead letters whose reason contains this',
    }),
  ),
  all: Type.Optional(Type.Literal(true)),
  again: Type.Optional(Type.Boolean({ description: 'also those replayed before' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: 'look at this many at most' })),
  after_id: Type.Optional(Type.Integer({ minimum: 0, description: 'the previous page’s last_id' })),
  through_id: Type.Optional(
    Type.Integer({ minimum: 0, description: 'the first page’s through_id' }),
  ),
});
export const ReplayReply = Type.Object({
  replayed: Type.Integer(),
  skipped: Type.Integer(),
  skips: Type.Array(Type.Object({ id: Type.Integer(), reason: Type.String() }), {
    maxItems: MAX_LISTED_SKIPS,
  }),
  last_id: Type.Integer(),
  through_id: Type.Integer(),
  remaining: Type.Integer(),
});
const Errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody };

/** `POST /v1/dead-letters/replay` (admin keys); the list and one dead letter are reports. */
export function deadLetterRoutes(deps: { replay: Replay }) {
  return async (app: FastifyInstance) => {
    app.post(
      '/v1/dead-letters/replay',
      {
        config: { access: { scope: 'admin' } },
        schema: { body: ReplayBodyDoc, response: { 200: ReplayReply, ...Errors } },
        validatorCompiler: () => () => true,
      },
      async (req) => deps.replay(parseReplayBody(req.body)),
    );
  };
}
