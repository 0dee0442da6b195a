import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';
import { installErrorHandler } from './error-handler.js';

export interface ServerOptions {
  maxBodyBytes: number;
  /** Addresses or CIDRs whose X-Forwarded-For is believed; `req.ip` is then the real client. */
  trustedProxies?: readonly string[];
}

export type Plugin = (app: FastifyInstance) => Promise<void>;

/** Builds (does not start) the HTTP server with the given feature plugins. */
export async function buildServer(
  logger: Logger,
  opts: ServerOptions,
  plugins: Plugin[],
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger.child({ component: 'http' }),
    // Per-request log lines cost more than the request itself at full speed; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    return503OnClosing: true,
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
