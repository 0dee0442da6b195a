/**
 * The durable write's floor (issue 16): a server that does only what any design with a durable
 * Redis write per request must do — read the body, `JSON.parse` it, stamp the arrival, publish
 * the events through Tally's own Redis log (the same encoding, group commit and `XADD`) and
 * answer 202 with the ids once Redis has them — on bare node:http (`http`) or on fastify as
 * Tally's edge uses it (`fastify`). Beside bare-server.ts and fastify-floor-server.ts it splits
 * Tally's CPU per request into the HTTP server, the framework, the log's write and Tally's own
 * work (validation, enrichment, hooks): edge-floor.ts loads them interleaved. Nothing consumes
 * the stream; it is deleted at exit. `GET /ready` answers 200.
 * Usage: log-floor-server.ts <port> <http|fastify> (REDIS_URL, default redis://127.0.0.1:6379)
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Fastify from 'fastify';
import { createClient } from 'redis';
import { pino } from 'pino';
import type { CanonicalEvent } from '../../src/events/event.js';
import { createRedisStreams } from '../../src/transport/redis-streams.js';

const port = Number(process.argv[2]);
const mode = process.argv[3] === 'fastify' ? 'fastify' : 'http';
const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const stream = `floor-${process.pid}-${randomBytes(4).toString('hex')}`;
const logger = pino({ level: 'warn' });
const log = await createRedisStreams(
  { url, stream, group: 'floor', reclaimIdleMs: 30_000, maxPendingBytes: 64 << 20 },
  logger,
);

/** The events of a body, stamped as they arrive: all a durable write needs besides the bytes. */
function stamp(body: unknown): CanonicalEvent[] {
  const now = Date.now();
  const raw = (Array.isArray(body) ? body : [body]) as CanonicalEvent[];
  for (const e of raw) {
    e.received_at = now;
  }
  return raw;
}

if (mode === 'http') {
  createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/ready') {
        res.writeHead(200, { 'content-length': 0 }).end();
        return;
      }
      const events = stamp(JSON.parse(text));
      log.publish(events).then(
        () => {
          const reply = JSON.stringify({
            accepted: events.length,
            event_ids: events.map((e) => e.event_id),
          });
          res.writeHead(202, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(reply),
          });
          res.end(reply);
        },
        () => res.writeHead(503, { 'content-length': 0 }).end(),
      );
    });
  }).listen(port, '127.0.0.1');
} else {
  const app = Fastify({ loggerInstance: logger, disableRequestLogging: true });
  const Accepted = {
    type: 'object',
    properties: {
      accepted: { type: 'integer' },
      event_ids: { type: 'array', items: { type: 'string' } },
    },
  } as const;
  app.get('/ready', async () => ({ ok: true }));
  app.post('/v1/events', { schema: { response: { 202: Accepted } } }, async (req, reply) => {
    const events = stamp(req.body);
    await log.publish(events);
    return reply
      .code(202)
      .send({ accepted: events.length, event_ids: events.map((e) => e.event_id) });
  });
  await app.listen({ port, host: '127.0.0.1' });
}

process.once('SIGTERM', () => {
  void (async () => {
    await log.close();
    const c = createClient({ url });
    await c.connect();
    await c.del([stream, `${stream}:epoch`]);
    await c.quit();
    process.exit(0);
  })().catch(() => process.exit(0));
});
