import type { FastifyInstance } from 'fastify';
import type { Credentials } from '../../config.js';
import { basicAuthHook } from '../../auth/basic-auth.js';
import { Type, type TSchema } from '@sinclair/typebox';
import type { Queryable } from '../../storage/db.js';
import { SeedError } from '../seed-errors.js';

/** Seed 003's BullMQ queue name, the key of its queue health body. */
export const QUEUE_NAME = 'analytics-events';

/** Where the figures come from: the log, the aggregator of this process, the dead-letter table. */
export interface QueueSources {
  log(): { waiting: number; state: 'up' | 'down' };
  aggregated(): { counted: number; duplicates: number };
  db: Queryable;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  delayed: number;
  total: number;
}

/**
 * BullMQ's job states mapped onto Tally's pipeline:
 * - waiting: events durable in the log and not yet aggregated (the batch in hand included);
 * - active: 0, since a batch being applied is still counted as waiting until it commits;
 * - completed: events this process's aggregator finished since it started (counted,
 *   duplicates alike, as BullMQ completes a job that changed nothing);
 * - failed: dead-lettered events (table `dead_letters`, kept until replayed, like
 *   `removeOnFail: false`);
 * - delayed: 0, Tally never schedules events for later.
 */
export async function queueCounts(src: QueueSources): Promise<QueueCounts> {
  let failed: number;
  try {
    const r = await src.db.query<{ n: number }>(
      '/* report:compat-dead-letter-count */ SELECT COUNT(*)::int8 AS n FROM dead_letters',
    );
    failed = Number(r.rows[0]?.n ?? 0);
  } catch {
    throw new SeedError(503, 'storage unavailable: dead letters cannot be counted');
  }
  const a = src.aggregated();
  const waiting = src.log().waiting;
  const completed = a.counted + a.duplicates;
  return { waiting, active: 0, completed, failed, delayed: 0, total: waiting + completed + failed };
}

const page = (c: QueueCounts) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Tally queue: ${QUEUE_NAME}</title></head>
<body style="font-family:system-ui,sans-serif;margin:2rem">
<h1>${QUEUE_NAME}</h1>
<p>Read-only view of Tally's event log (refreshes every 5 s). Jobs cannot be retried, removed,
paused or resumed from here: dead letters are replayed from the CLI.</p>
<table cellpadding="6" border="1" style="border-collapse:collapse">
${(Object.keys(c) as (keyof QueueCounts)[]).map((k) => `<tr><th align="left">${k}</th><td align="right">${c[k]}</td></tr>`).join('\n')}
</table></body></html>`;

const Counts = Type.Object({
  waiting: Type.Integer(),
  active: Type.Integer(),
  completed: Type.Integer(),
  failed: Type.Integer(),
  delayed: Type.Integer(),
  total: Type.Integer(),
});
/** Keyed by queue name, as BullMQ's; Tally has the one queue. */
const QueueHealth = Type.Object({ [QUEUE_NAME]: Counts }, { additionalProperties: true });

/**
 * `GET /api/queues/health` (JSON counts) and `GET /api/queues/admin` (read-only page, no controls).
 * `errors` are the seed's error responses (503 when the dead letters cannot be counted, 500).
 */
export function registerQueueRoutes(
  app: FastifyInstance,
  src: QueueSources,
  errors: Record<number, TSchema>,
  /** BULL_BOARD_USER/PASSWORD: the page asks for them; without, it needs an admin key (AUTH=on). */
  bullBoard?: Credentials,
): void {
  app.get(
    '/api/queues/health',
    {
      schema: {
        summary: 'Seed 003: queue health, job counts by state keyed by queue name',
        response: { 200: QueueHealth, ...errors },
      },
    },
    async () => ({
      [QUEUE_NAME]: await queueCounts(src),
    }),
  );
  app.get(
    '/api/queues/admin',
    {
      ...(bullBoard
        ? { onRequest: basicAuthHook(bullBoard, 'Bull Board') }
        : { config: { access: { scope: 'admin' as const } } }),
      // 200 is the HTML page.
      schema: {
        summary: 'Seed 003: read-only HTML view of the queue (its Bull Board UI)',
        response: errors,
      },
    },
    async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(page(await queueCounts(src))),
  );
}
