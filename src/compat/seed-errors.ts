import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, type FieldError } from '../errors.js';

/** A failure in the terms a seed's error body needs: status, one line, field errors in the seed's names. */
export interface SeedFailure {
  status: number;
  /** HTTP reason phrase of `status` ("Bad Request"). */
  reason: string;
  message: string;
  fields: { field: string; message: string }[];
}

/** Thrown by compat handlers for input the seed itself would refuse. */
export class SeedError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

export const invalidInput = (fields: { field: string; message: string }[]) =>
  new SeedError(400, fields.map((f) => `${f.field} ${f.message}`).join('; '), fields);

const BODY_ERRORS: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body is empty although Content-Type says JSON',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported Content-Type: send application/json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
};

export interface SeedErrorOptions {
  /** Canonical field name → the seed's name, to report canonical validation errors (`ts` → `timestamp`). */
  fieldNames?: Record<string, string>;
  render(f: SeedFailure): unknown;
}

function failureOf(
  err: unknown,
  names: Record<string, string>,
  maxBodyBytes: number,
): SeedFailure | undefined {
  const make = (
    status: number,
    message: string,
    fields: SeedFailure['fields'] = [],
  ): SeedFailure => ({
    status,
    reason: STATUS_CODES[status] ?? 'Error',
    message,
    fields,
  });
  if (err instanceof SeedError) {
    return make(err.status, err.message, err.fields);
  }
  if (err instanceof AppError) {
    const fields = (err.details ?? []).map((d: FieldError) => ({
      field: names[d.field] ?? d.field,
      message: d.message,
    }));
    const message =
      fields.length > 0 ? fields.map((f) => `${f.field} ${f.message}`).join('; ') : err.message;
    return make(err.statusCode, message, fields);
  }
  const fe = err as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return make(413, `request body is larger than ${maxBodyBytes} bytes`);
  }
  const status = fe.statusCode ?? 500;
  if (status < 500) {
    return make(status, BODY_ERRORS[fe.code] ?? fe.message);
  }
  return undefined;
}

/**
 * Answers every error of the routes in this (encapsulated) plugin in the seed's own body shape:
 * the seed's validation errors, canonical validation errors with the seed's field names,
 * malformed JSON, 413, 415, 429, 503 (with Retry-After) and, hidden, 500.
 */
export function installSeedErrors(app: FastifyInstance, opts: SeedErrorOptions): void {
  const names = opts.fieldNames ?? {};
  const maxBodyBytes = app.initialConfig.bodyLimit ?? 1_048_576;
  app.setErrorHandler((err, req, reply) => {
    let f = failureOf(err, names, maxBodyBytes);
    if (err instanceof AppError && err.retryAfterS !== undefined) {
      void reply.header('retry-after', String(err.retryAfterS));
    }
    if (err instanceof AppError && err.headers) {
      void reply.headers(err.headers);
    }
    if (f === undefined) {
      req.log.error({ err }, 'compat request failed');
    } else if (f.status >= 500) {
      req.log.warn({ status: f.status }, f.message);
    }
    f ??= { status: 500, reason: 'Internal Server Error', message: 'internal error', fields: [] };
    return reply.code(f.status).send(opts.render(f));
  });
}
