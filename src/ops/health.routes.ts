import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Db } from '../storage/db.js';
import type { Transport } from '../transport/transport.js';

/** What start-up and shutdown tell the readiness probe. */
export interface Lifecycle {
  migrated: boolean;
  accepting: boolean;
}

const Dep = Type.Object({
  status: Type.String(),
  waiting: Type.Optional(Type.Integer()),
  bytes: Type.Optional(Type.Integer()),
});
/** The union of seed 000's `{ ok }` and seed 002's health body, plus each dependency. */
const HealthReply = Type.Object({
  ok: Type.Boolean(),
  status: Type.String(),
  service: Type.String(),
  timestamp: Type.String(),
  database: Type.String(),
  uptime: Type.Number(),
  uptime_s: Type.Number(),
  dependencies: Type.Object({ storage: Dep, log: Dep }),
});
const ReadyReply = Type.Object({
  ready: Type.Boolean(),
  migrated: Type.Boolean(),
  log_open: Type.Boolean(),
  accepting: Type.Boolean(),
});

/** `GET /health` (liveness and each dependency; seeds 000 and 002 read it too) and `GET /ready` (migrated, log open, accepting). */
export function healthRoutes(deps: { db: Db; transport: Transport; lifecycle: Lifecycle }) {
  const started = Date.now();
  return async (app: FastifyInstance) => {
    app.get(
      '/health',
      { schema: { response: { 200: HealthReply, 503: HealthReply } } },
      async (_req, reply) => {
        const storage = await deps.db.ping();
        const eventLog = deps.transport.stats();
        const ok = storage && eventLog.state === 'up';
        const now = Date.now();
        return reply.code(ok ? 200 : 503).send({
          ok,
          status: ok ? 'healthy' : 'unhealthy',
          service: 'tally',
          timestamp: new Date(now).toISOString(),
          database: storage ? 'connected' : 'disconnected',
          uptime: Math.round((now - started) / 10) / 100,
          uptime_s: Math.round((now - started) / 1000),
          dependencies: {
            storage: { status: storage ? 'up' : 'down' },
            log: {
              status: eventLog.state,
              waiting: eventLog.waiting,
              ...(eventLog.bytes === undefined ? {} : { bytes: eventLog.bytes }),
            },
          },
        });
      },
    );
    app.get(
      '/ready',
      { schema: { response: { 200: ReadyReply, 503: ReadyReply } } },
      async (_req, reply) => {
        const logOpen = deps.transport.stats().state === 'up';
        const ready = deps.lifecycle.migrated && logOpen && deps.lifecycle.accepting;
        return reply.code(ready ? 200 : 503).send({
          ready,
          migrated: deps.lifecycle.migrated,
          log_open: logOpen,
          accepting: deps.lifecycle.accepting,
        });
      },
    );
  };
}
