import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.js';

/** Timeouts and cap of one HTTP server (config.http; README "Connections and timeouts"). */
export interface ConnectionLimits {
  /** The whole request, headers and body, from its first byte; then 408 and closed. */
  requestTimeoutMs: number;
  /** The request headers (also: a new connection that sends nothing); then 408 and closed. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed (no response) this long after its last response. */
  keepAliveTimeoutMs: number;
  /** Open connections of this server; one more is closed at once, unanswered. 0: no limit. */
  maxConnections: number;
}

/**
 * Node checks the two request timeouts only every `connectionsCheckingInterval` (30 s by
 * default), so a 10 s timeout fired after up to 40 s: check ten times per timeout, at most
 * once a second (one pass over the open connections), so a cut comes within 10 % (≤ 1 s).
 */
export const checkIntervalMs = (l: ConnectionLimits) =>
  Math.max(25, Math.min(1000, Math.floor(Math.min(l.headersTimeoutMs, l.requestTimeoutMs) / 10)));

/** The options Fastify passes to `http.createServer`, and those it sets on the server itself. */
export function serverOptions(l: ConnectionLimits) {
  return {
    // Fastify sets requestTimeout on the server after creating it: both places need it.
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    http: {
      requestTimeout: l.requestTimeoutMs,
      headersTimeout: l.headersTimeoutMs,
      connectionsCheckingInterval: checkIntervalMs(l),
      // Checked in an onRequest hook instead, to answer with the error body (Node's 400 is empty).
      requireHostHeader: false,
    },
  };
}

/**
 * Applies the cap, and keeps the timeouts during a graceful close: Node stops checking them
 * once `server.close()` is called, and counts a connection that has not sent a whole request
 * as busy, so one that sends nothing or stalls held the shutdown until its deadline.
 * `timeout(socket)` answers 408 and closes (the server's clientError handler).
 */
export function enforceLimits(
  server: Server,
  limits: ConnectionLimits,
  log: Logger,
  timeout: (socket: Socket) => void,
): { drain(): void } {
  if (limits.maxConnections > 0) {
    server.maxConnections = limits.maxConnections;
    // Under a flood this fires per connection: one line, then at most one per 10 s with a count.
    let dropped = 0;
    let loggedAt = -Infinity;
    server.on('drop', () => {
      dropped += 1;
      if (Date.now() - loggedAt >= 10_000) {
        log.warn(
          { dropped, maxConnections: limits.maxConnections },
          'connections over MAX_CONNECTIONS closed unanswered',
        );
        loggedAt = Date.now();
        dropped = 0;
      }
    });
  }
  /** Each open connection: its requests whose response has not closed, and when they came. */
  const open = new Map<Socket, Map<IncomingMessage, number>>();
  server.on('connection', (socket: Socket) => {
    open.set(socket, new Map());
    socket.once('close', () => open.delete(socket));
  });
  // One listener function for every response (no closure, no `once` wrapper per request: this
  // runs on every request at full speed).
  function forget(this: ServerResponse) {
    open.get(this.req.socket)?.delete(this.req);
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    open.get(req.socket)?.set(req, Date.now());
    res.on('close', forget);
  });
  const sweep = () => {
    const now = Date.now();
    for (const [socket, requests] of open) {
      const stalled = [...requests].some(
        ([req, since]) => !req.complete && now - since >= limits.requestTimeoutMs,
      );
      if (stalled) {
        timeout(socket);
      } else if (requests.size === 0) {
        // Idle, or its headers not finished: no request of theirs was taken.
        socket.destroy();
      }
    }
  };
  return {
    drain() {
      sweep();
      const timer = setInterval(sweep, checkIntervalMs(limits)).unref();
      server.once('close', () => clearInterval(timer));
    },
  };
}
