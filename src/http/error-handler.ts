import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

/** The one error body of the API: `{ error: { code, message, details? } }`. */
export const ErrorBody = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              index: { type: 'integer' },
              field: { type: 'string' },
              message: { type: 'string' },
            },
          },
        },
      },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_VALIDATION: 'INVALID_PARAMETER',
};

/** Maps coded errors to the error body, logs with request context, hides 5xx details. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    if (err instanceof AppError) {
      if (err.retryAfterS !== undefined) {
        void reply.header('retry-after', String(err.retryAfterS));
      }
      if (err.headers) {
        void reply.headers(err.headers);
      }
      if (err.statusCode >= 500) {
        req.log.warn({ code: err.code }, err.message);
      }
      return reply.code(err.statusCode).send({
        error: {
          code: err.code,
          message: err.message,
          ...(err.details
            ? {
                details: err.details.map(({ index, field, message }) => ({
                  index,
                  field,
                  message,
                })),
              }
            : {}),
        },
      });
    }
    const fe = err;
    if (fe.validation) {
      const details = fe.validation.map((v) => {
        const missing = (v.params as { missingProperty?: string }).missingProperty;
        const field = missing ?? v.instancePath.replace(/^\//, '').replace(/\//g, '.');
        const allowed = (v.params as { allowedValues?: unknown[] }).allowedValues;
        const message = missing
          ? 'is required'
          : allowed
            ? `must be one of: ${allowed.join(', ')}`
            : (v.message ?? 'is invalid');
        return { field, message };
      });
      const first = details[0];
      return reply.code(400).send({
        error: {
          code: 'INVALID_PARAMETER',
          message: first ? `${first.field}: ${first.message}` : fe.message,
          details,
        },
      });
    }
    const status = fe.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send({
        error: { code: FASTIFY_CODES[fe.code] ?? fe.code ?? 'BAD_REQUEST', message: fe.message },
      });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` },
    }),
  );
}
