import { maxHeaderSize, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';

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
  FST_ERR_BAD_URL: 'INVALID_URL',
  FST_ERR_MAX_PARAM_LENGTH: 'URL_TOO_LONG',
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

/** The error body as text, for answers written without a fastify reply. */
export const errorJson = (code: string, message: string) =>
  JSON.stringify({ error: { code, message } });

/** Fastify's `frameworkErrors`: a URL the router cannot decode (`/%zz`) or too long a parameter. */
export function frameworkErrors(
  err: FastifyError,
  _req: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = err.statusCode ?? 500;
  void reply.code(status >= 500 ? 500 : status).send({
    error:
      status >= 500
        ? { code: 'INTERNAL', message: 'internal error' }
        : { code: FASTIFY_CODES[err.code] ?? 'BAD_REQUEST', message: err.message },
  });
}

/** Node's answer to an `Expect` other than 100-continue (otherwise a bare 417). */
export function expectationFailed(req: IncomingMessage, res: ServerResponse): void {
  const body = errorJson('EXPECTATION_FAILED', `unsupported expect: ${req.headers.expect}`);
  res.writeHead(417, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body);
}

type ClientError = Error & { code?: string; reason?: string };

/**
 * Fastify's `clientErrorHandler`: what Node reports on a raw socket before any request object
 * exists — a timeout (408), headers over Node's limit (431), a request its parser refuses
 * (400). Answered with the error body and closed; other socket errors are just closed.
 */
export function clientErrorHandler(log: Logger, timeouts: string) {
  return (err: ClientError, socket: Socket): void => {
    if (socket.destroyed) {
      return;
    }
    const answer =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ([408, 'REQUEST_TIMEOUT', `the request did not arrive in time (${timeouts})`] as const)
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? ([431, 'HEADERS_TOO_LARGE', `request headers over ${maxHeaderSize} bytes`] as const)
          : err.code?.startsWith('HPE_')
            ? ([400, 'BAD_REQUEST', `malformed HTTP request: ${err.reason ?? err.code}`] as const)
            : undefined;
    log.debug({ code: err.code }, 'client error');
    // As Node's own default: never write into a response that has started on this socket.
    const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (answer && socket.writable && !current?.headersSent) {
      const [status, code, message] = answer;
      const body = errorJson(code, message);
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
