import { createServer, type Server } from 'node:http';
import { checkIntervalMs, type ConnectionLimits } from '../http/connection-limits.js';
import type { Metrics } from './metrics.js';

/**
 * `GET /metrics` for a process without the HTTP edge (`tally worker`, METRICS_PORT). It asks for
 * no key (a worker has no key store of its own): bind it where only the scraper reaches it.
 */
export async function serveMetrics(
  metrics: Metrics,
  host: string,
  port: number,
  limits?: ConnectionLimits,
): Promise<{ close(): Promise<void> }> {
  // The same timeouts and cap as the API's servers (README "Connections and timeouts"); a
  // stalled request is closed (this server has no error body to send).
  const options = limits
    ? {
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout: limits.headersTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: checkIntervalMs(limits),
      }
    : {};
  const server: Server = createServer(options, (req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"NOT_FOUND","message":"only GET /metrics here"}}');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  if (limits && limits.maxConnections > 0) {
    server.maxConnections = limits.maxConnections;
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
