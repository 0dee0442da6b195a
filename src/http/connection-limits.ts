import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.js';

interface Latest {
  req: IncomingMessage | undefined;
  res: ServerResponse | undefined;
  since: number;
}

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
  /**
   * Each open connection's latest request, its response and when it came. No listener per
   * response (this runs on every request at full speed): an HTTP/1.1 connection's requests are
   * read one after another and answered in order, so while the latest response is unfinished
   * some request is in hand, and only the latest one can still be incomplete.
   */
  const open = new Map<Socket, Latest>();
  server.on('connection', (socket: Socket) => {
    open.set(socket, { req: undefined, res: undefined, since: 0 });
    socket.once('close', () => open.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const latest = open.get(req.socket);
    if (latest !== undefined) {
      latest.req = req;
      latest.res = res;
      latest.since = Date.now();
    }
  });
  const sweep = () => {
    const now = Date.now();
    for (const [socket, { req, res, since }] of open) {
      const inHand = res !== undefined && !res.writableFinished;
      if (inHand && !req!.complete && now - since >= limits.requestTimeoutMs) {
        timeout(socket);
      } else if (!inHand) {
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
