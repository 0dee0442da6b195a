import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Credentials } from '../../config.js';
import { basicAuthHook } from '../../auth/basic-auth.js';
import { Type, type TSchema } from '@sinclair/typebox';
import { deadLetters, type DeadLetter } from '../../reporting/reports/pipeline.js';
import type { Queryable } from '../../storage/db.js';
import { invalidInput, SeedError } from '../seed-errors.js';

/** Seed 003's BullMQ queue name, the key of its queue health body. */
export const QUEUE_NAME = 'analytics-events';

/** Where the figures come from: the log, the aggregator of this process, the dead-letter table. */
export interface QueueSources {
  log(): { waiting: number; state: 'up' | 'down' };
  /** `paused` is absent when this process runs no aggregator (`tally api`). */
  aggregated(): { counted: number; duplicates: number; bots?: number; paused?: boolean };
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
 *   duplicates and bots alike, as BullMQ completes a job that changed nothing);
 * - failed: dead-lettered events not yet replayed (table `dead_letters`, like
 *   `removeOnFail: false`; a retry replays them and they leave this count);
 * - delayed: 0, Tally never schedules events for later.
 */
export async function queueCounts(src: QueueSources): Promise<QueueCounts> {
  let failed: number;
  try {
    const r = await src.db.query<{ n: number }>(
      '/* report:compat-dead-letter-count */ SELECT COUNT(*)::int8 AS n FROM dead_letters WHERE replayed_at IS NULL',
    );
    failed = Number(r.rows[0]?.n ?? 0);
  } catch {
    throw new SeedError(503, 'storage unavailable: dead letters cannot be counted');
  }
  const a = src.aggregated();
  const waiting = src.log().waiting;
  const completed = a.counted + a.duplicates + (a.bots ?? 0);
  return { waiting, active: 0, completed, failed, delayed: 0, total: waiting + completed + failed };
}

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

/** The page's path; its actions are posted under it. */
export const QUEUE_PAGE = '/api/queues/admin';
const FAILED_SHOWN = 20;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const action = (name: string, label: string, id?: number) =>
  `<form method="post" action="${QUEUE_PAGE}/${name}" style="display:inline">${
    id === undefined ? '' : `<input type="hidden" name="id" value="${id}">`
  }<button type="submit">${label}</button></form>`;

/** The line after an action (POST → 303 → this page with `?done=`), from fixed texts and integers only. */
function notice(q: unknown): string | undefined {
  const p = (typeof q === 'object' && q !== null ? q : {}) as Record<string, unknown>;
  const n = (k: string) => (typeof p[k] === 'string' && /^\d{1,15}$/.test(p[k]) ? p[k] : '0');
  switch (p['done']) {
    case 'paused':
      return 'Paused: the aggregator takes no new batches; events wait in the log.';
    case 'resumed':
      return 'Resumed: the aggregator catches up with the log.';
    case 'retried':
      return `Retried ${n('replayed')} failed jobs; ${n('skipped')} skipped (GET /v1/dead-letters or tally dead-letters list says why).`;
    default:
      return undefined;
  }
}

function page(c: QueueCounts, paused: boolean | undefined, failed: DeadLetter[], note?: string) {
  const state =
    paused === undefined
      ? 'this process runs no aggregator (<code>tally api</code>): its workers aggregate.'
      : paused
        ? `<strong>paused</strong>: no new batches are taken; events wait in the log. ${action('resume', 'Resume')}`
        : `<strong>running</strong>. ${action('pause', 'Pause')}`;
  const rows = failed.map(
    (d) =>
      `<tr><td>${d.id}</td><td>${d.failed_at}</td><td>${esc(d.event_id ?? '')}</td><td>${esc(d.reason)}</td><td><code>${esc(d.payload.slice(0, 200))}</code></td><td>${action('retry', 'Retry', d.id)}</td></tr>`,
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5; url=${QUEUE_PAGE}">
<title>Tally queue: ${QUEUE_NAME}</title></head>
<body style="font-family:system-ui,sans-serif;margin:2rem">
<h1>${QUEUE_NAME}</h1>
<p>Tally's event log (refreshes every 5 s).</p>
${note === undefined ? '' : `<p role="status"><strong>${esc(note)}</strong></p>\n`}<p>Aggregator: ${state}</p>
<table cellpadding="6" border="1" style="border-collapse:collapse">
${(Object.keys(c) as (keyof QueueCounts)[]).map((k) => `<tr><th align="left">${k}</th><td align="right">${c[k]}</td></tr>`).join('\n')}
</table>
<h2>Failed jobs</h2>
<p>${
    c.failed === 0
      ? 'None waiting for a retry.'
      : `Dead letters not yet replayed, newest first (${failed.length} of ${c.failed} shown). Retry
sends the event back through the log; an event already counted is not counted again.
${action('retry', 'Retry all failed')}`
  }</p>
${rows.length === 0 ? '' : `<table cellpadding="6" border="1" style="border-collapse:collapse">\n<tr><th>id</th><th>failed at</th><th>event id</th><th>reason</th><th>payload</th><th></th></tr>\n${rows.join('\n')}\n</table>`}
</body></html>`;
}

/**
 * `GET /api/queues/health` (JSON counts) and `GET /api/queues/admin` (the page; its actions are
 * registerQueueActions'). `errors` are the seed's error responses (503 when the dead letters
 * cannot be counted, 500).
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
    QUEUE_PAGE,
    {
      ...pageGuard(bullBoard),
      // 200 is the HTML page.
      schema: {
        summary:
          'Seed 003: HTML view of the queue (its Bull Board UI): counts, failed jobs, actions',
        response: errors,
      },
    },
    async (req, reply) => {
      const counts = await queueCounts(src);
      const failed = await deadLetters(src.db, { limit: FAILED_SHOWN, replayed: false }).catch(
        () => {
          throw new SeedError(503, 'storage unavailable: dead letters cannot be listed');
        },
      );
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(page(counts, src.aggregated().paused, failed.items, notice(req.query)));
    },
  );
}

/** The page's and its actions' guard: its basic auth when set, else an admin key. */
const pageGuard = (bullBoard: Credentials | undefined) =>
  bullBoard
    ? { onRequest: basicAuthHook(bullBoard, 'Bull Board') }
    : { config: { access: { scope: 'admin' as const } } };

/** What the page's buttons do. */
export interface QueueActions {
  /** This process's aggregator; undefined in `tally api`, whose workers aggregate. */
  aggregator: { pause(): void; resume(): void } | undefined;
  /** Replays failed jobs (dead letters): the one with this id, or all not yet replayed. */
  retry(id: number | undefined): Promise<RetryResult>;
}

export interface RetryResult {
  replayed: number;
  skipped: number;
  skips: { id: number; reason: string }[];
}

const Paused = Type.Object({ paused: Type.Boolean() });
const Retried = Type.Object({
  replayed: Type.Integer(),
  skipped: Type.Integer(),
  skips: Type.Array(Type.Object({ id: Type.Integer(), reason: Type.String() })),
});

/**
 * A browser sends the page's basic-auth credentials with any form posted to this origin, from
 * another site's page too: refuse a post the browser says came from elsewhere (Sec-Fetch-Site,
 * else Origin). Clients that are not browsers send neither.
 */
function refuseCrossSite(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  const hostOf = (o: string) => {
    try {
      return new URL(o).host;
    } catch {
      return undefined; // `null` (a sandboxed frame) or garbage
    }
  };
  const ok =
    site !== undefined
      ? site === 'same-origin' || site === 'none'
      : origin === undefined || hostOf(origin) === req.headers.host;
  if (!ok) {
    throw new SeedError(403, 'refused: post this from the queue page itself');
  }
}

function retryId(body: unknown): number | undefined {
  const v = typeof body === 'object' && body !== null ? (body as { id?: unknown }).id : undefined;
  if (v === undefined || v === '') {
    return undefined;
  }
  const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw invalidInput([{ field: 'id', message: 'must be a positive integer (a failed job id)' }]);
  }
  return n;
}

/** A form post (a browser asks for HTML) goes back to the page; other clients get JSON. */
const answer = (req: FastifyRequest, reply: FastifyReply, done: string, json: unknown) =>
  (req.headers.accept ?? '').includes('text/html')
    ? reply.code(303).header('location', `${QUEUE_PAGE}?done=${done}`).send()
    : json;

/**
 * The page's actions, as BullMQ's board has them: `POST /api/queues/admin/pause` and `/resume`
 * (this process's aggregator) and `/retry` (form or JSON field `id`: that failed job; none:
 * all of them). Behind the page's guard; form posts from other sites are refused.
 */
export function registerQueueActions(
  app: FastifyInstance,
  actions: QueueActions,
  errors: Record<number, TSchema>,
  bullBoard?: Credentials,
): void {
  const aggregator = () => {
    if (actions.aggregator === undefined) {
      throw new SeedError(
        409,
        'this process runs no aggregator (tally api): its workers aggregate',
      );
    }
    return actions.aggregator;
  };
  const toggle = (pause: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    refuseCrossSite(req);
    const a = aggregator();
    if (pause) {
      a.pause();
    } else {
      a.resume();
    }
    return answer(req, reply, pause ? 'paused' : 'resumed', { paused: pause });
  };
  const schema = (summary: string, ok: TSchema) => ({ summary, response: { 200: ok, ...errors } });
  void app.register(async (forms) => {
    // The page's forms post urlencoded bodies: parsed for these routes only.
    forms.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );
    forms.post(
      `${QUEUE_PAGE}/pause`,
      { ...pageGuard(bullBoard), schema: schema('Seed 003: pause the aggregator', Paused) },
      toggle(true),
    );
    forms.post(
      `${QUEUE_PAGE}/resume`,
      { ...pageGuard(bullBoard), schema: schema('Seed 003: resume the aggregator', Paused) },
      toggle(false),
    );
    forms.post(
      `${QUEUE_PAGE}/retry`,
      {
        ...pageGuard(bullBoard),
        schema: schema('Seed 003: retry failed jobs (replay dead letters)', Retried),
      },
      async (req, reply) => {
        refuseCrossSite(req);
        const r = await actions.retry(retryId(req.body));
        return answer(req, reply, `retried&replayed=${r.replayed}&skipped=${r.skipped}`, r);
      },
    );
  });
}
