/** One catalogue of coded errors; the HTTP error handler maps them to `{ error: { code, message } }`. */
export interface FieldError {
  index?: number;
  field: string;
  message: string;
  /** The drop-ledger reason when it is not `invalid` (for example `too_old`); not sent. */
  reason?: string;
}

export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode: number,
    readonly details?: FieldError[],
    readonly retryAfterS?: number,
    /** Response headers the error calls for (`WWW-Authenticate` on a 401). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

export const invalidEvents = (details: FieldError[]) =>
  new AppError(
    'INVALID_EVENT',
    `${details.length} validation error(s); nothing was accepted`,
    400,
    details,
  );

export const invalidParameter = (field: string, message: string) =>
  new AppError('INVALID_PARAMETER', `${field}: ${message}`, 400, [{ field, message }]);

export const tooManyEvents = (n: number, max: number) =>
  new AppError('TOO_MANY_EVENTS', `${n} events in one request; the maximum is ${max}`, 413);

/** The log refused the write (overload or unavailable): the client should retry later. */
export const logUnavailable = (message: string, retryAfterS = 1) =>
  new AppError('LOG_UNAVAILABLE', message, 503, undefined, retryAfterS);

/** No key, or a key that is not (or no longer) valid. */
export const unauthorized = (message: string) =>
  new AppError('UNAUTHORIZED', message, 401, undefined, undefined, {
    'www-authenticate': 'Bearer realm="tally"',
  });

/** A valid key that does not grant this, or an event from an origin its site does not allow. */
export const forbidden = (message: string, details?: FieldError[]) =>
  new AppError('FORBIDDEN', message, 403, details);

export const tooManyAuthFailures = (retryAfterS: number) =>
  new AppError(
    'TOO_MANY_AUTH_FAILURES',
    'too many failed keys from this address; wait before trying again',
    429,
    undefined,
    retryAfterS,
  );

export const notFound = (message: string) => new AppError('NOT_FOUND', message, 404);

export const conflict = (message: string) => new AppError('CONFLICT', message, 409);
