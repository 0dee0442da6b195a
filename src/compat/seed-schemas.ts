import { Type, type TSchema } from '@sinclair/typebox';

/**
 * Route options that keep a schema's `querystring` / `body` as documentation only: each seed route
 * validates its input itself and answers in its seed's error shape, which fastify's validator
 * (and its type coercion) would replace.
 */
export const documentationOnly = { validatorCompiler: () => () => true } as const;

/**
 * The same error body under each status. Every property a route sends must be in its response
 * schema: fastify serialises with it and drops the others.
 */
export const errorResponses = (body: TSchema, ...statuses: number[]): Record<number, TSchema> =>
  Object.fromEntries(statuses.map((s) => [s, body]));

/** Failures of a JSON ingest route: invalid input or JSON, body limit, content type, rate limit, hidden bug, log down. */
export const JSON_INGEST_ERRORS = [400, 413, 415, 429, 500, 503];

/** A seed's string parameter or field. */
export const Str = (description?: string) =>
  Type.String(description === undefined ? {} : { description });

/** Top paths, most viewed first. */
export const TopPaths = Type.Array(Type.Object({ path: Type.String(), views: Type.Integer() }));
