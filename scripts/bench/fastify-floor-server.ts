/**
 * The framework's floor: fastify alone, as Tally's edge uses it (JSON body parsed, request
 * logging off, a response schema compiled once), answering `POST /v1/events` with 202 and the
 * event ids, without validating, storing or publishing anything. Beside the bare node:http
 * server (bare-server.ts) it splits Tally's CPU per request into what fastify costs and what
 * Tally's own work costs (edge-floor.ts). `GET /ready` answers 200. Usage: fastify-floor-server.ts <port>
 */
import Fastify from 'fastify';
import { pino } from 'pino';

const port = Number(process.argv[2]);
const app = Fastify({ loggerInstance: pino({ level: 'warn' }), disableRequestLogging: true });
const Accepted = {
  type: 'object',
  properties: {
    accepted: { type: 'integer' },
    event_ids: { type: 'array', items: { type: 'string' } },
  },
} as const;

app.get('/ready', async () => ({ ok: true }));
app.post('/v1/events', { schema: { response: { 202: Accepted } } }, async (req, reply) => {
  const body = req.body as { event_id?: string } | { event_id?: string }[];
  const events = Array.isArray(body) ? body : [body];
  return reply
    .code(202)
    .send({ accepted: events.length, event_ids: events.map((e) => e.event_id ?? '') });
});

await app.listen({ port, host: '127.0.0.1' });
process.once('SIGTERM', () => process.exit(0));
