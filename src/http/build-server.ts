import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { enforceLimits, serverOptions, type ConnectionLimits } from './connection-limits.js';
import { withLazyChildren } from './request-logger.js';
import {
  clientErrorHandler,
  expectationFailed,
  frameworkErrors,
  installErrorHandler,
} from './error-handler.js';

export type { ConnectionLimits };

export interface ServerOptions {
  maxBodyBytes: number;
  /** Addresses or CIDRs whose X-Forwarded-For is believed; `req.ip` is then the real client. */
  trustedProxies?: readonly string[];
  /** Timeouts and the connection cap (config.http); Node's and Fastify's defaults without. */
  connections?: ConnectionLimits;
}

export type Plugin = (app: FastifyInstance) => Promise<void>;

/** Retry-After of the 503 a closing server sends: the load balancer has moved by then. */
const CLOSING_RETRY_AFTER_S = 1;

/** Builds (does not start) the HTTP server with the given feature plugins. */
export async function buildServer(
  logger: Logger,
  opts: ServerOptions,
  plugins: Plugin[],
): Promise<FastifyInstance> {
  const log = logger.child({ component: 'http' });
  const limits = opts.connections;
  const onClientError = clientErrorHandler(
    log,
    limits
      ? `headers within ${limits.headersTimeoutMs} ms, all within ${limits.requestTimeoutMs} ms`
      : 'headers within 60000 ms',
  );
  const app = Fastify({
    // `req.log` is made when first used, not for every request (request-logger.ts).
    loggerInstance: withLazyChildren(log),
    // Per-request log lines cost more than the request itself at full speed; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    // Answered below, in the error body; Fastify's own 503 has another shape.
    return503OnClosing: false,
    ...(limits ? serverOptions(limits) : {}),
    clientErrorHandler: onClientError,
    frameworkErrors,
    trustProxy: opts.trustedProxies?.length ? [...opts.trustedProxies] : false,
    ajv: {
      customOptions: {
        coerceTypes: 'array',
        useDefaults: true,
        removeAdditional: false,
        allErrors: false,
      },
    },
  }) as unknown as FastifyInstance;
  app.server.on('checkExpectation', expectationFailed);
  const timeout = (socket: Socket) =>
    onClientError(
      Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }),
      socket,
    );
  const drain = limits ? enforceLimits(app.server, limits, log, timeout) : undefined;
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    drain?.drain();
    done();
  });
  // First of all hooks (the plugins' come after): the not-found handler has it too.
  app.addHook('onRequest', (req, _reply, done) => {
    if (closing) {
      // Fastify has set `connection: close`: the client retries on a new connection elsewhere.
      done(
        new AppError(
          'SHUTTING_DOWN',
          'this instance is shutting down; retry',
          503,
          undefined,
          CLOSING_RETRY_AFTER_S,
        ),
      );
    } else if (limits && req.raw.httpVersion === '1.1' && req.headers.host === undefined) {
      done(new AppError('BAD_REQUEST', 'an HTTP/1.1 request needs a Host header', 400));
    } else {
      done();
    }
  });
  // navigator.sendBeacon sends text/plain: its body is parsed as JSON like application/json.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    'text/plain',
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'ignore'),
  );
  installErrorHandler(app);
  for (const plugin of plugins) {
    await app.register(plugin);
  }
  return app;
}
