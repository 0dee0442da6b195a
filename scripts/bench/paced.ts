import { Pool, errors } from 'undici';
import type { LoadOutcome, LoadProgress } from './closed-loop.js';
import { LatencyRecorder } from './latency.js';
import type { Ledger } from './ledger.js';

/**
 * Open loop: requests leave at evenly spaced instants (`reqPerS`), whatever the answers do, over
 * at most `connections` keep-alive connections. Latency runs from the moment a request is handed
 * to the client, so waiting for a free connection (the server being slow) counts, while the
 * harness's own timer lateness does not. (undici: several times less client CPU than node:http.) Only as a guard against unbounded memory, a request due
 * while MAX_OUTSTANDING are unanswered is not sent (`notSent`).
 * (autocannon's rate limit sends each second's quota back to back, which measures full-speed
 * latency, hence this small generator for the paced phases.)
 */
const MAX_OUTSTANDING = 10_000;

export async function runPaced(
  url: string,
  ledger: Ledger,
  opts: {
    reqPerS: number;
    connections: number;
    durationS: number;
    onTick?: (p: LoadProgress) => void;
  },
): Promise<LoadOutcome> {
  const pool = new Pool(url, {
    connections: opts.connections,
    pipelining: 1,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const latencies = new LatencyRecorder();
  const statuses: Record<string, number> = {};
  let requests = 0;
  let refused = 0;
  let refusedWithRetryAfter = 0;
  let notSent = 0;
  let outstanding = 0;
  let failure: Error | undefined;
  const interval = 1000 / opts.reqPerS;
  const startedAt = performance.now();
  const endAt = startedAt + opts.durationS * 1000;

  const send = () => {
    const { reqId, body } = ledger.take();
    const sentAt = performance.now();
    outstanding++;
    pool
      .request({
        path: '/v1/events',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      })
      .then(async (res) => {
        const text = await res.body.text();
        const status = res.statusCode;
        requests++;
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 202) {
          latencies.record(performance.now() - sentAt);
        } else if (status === 429 || status === 503) {
          refused++;
          if (res.headers['retry-after'] !== undefined) {
            refusedWithRetryAfter++;
          }
        }
        ledger.settle(reqId, status, text);
      })
      // No answer: the ledger keeps the request as unanswered, to be resent after the run.
      .catch((err: unknown) => {
        if (!(err instanceof errors.UndiciError) && !(err as { code?: string }).code) {
          failure ??= err as Error;
        }
      })
      .finally(() => outstanding--);
  };

  const tick = opts.onTick
    ? setInterval(
        () => opts.onTick?.({ requests, acceptedEvents: ledger.acknowledged, refused }),
        1000,
      )
    : undefined;
  let due = startedAt;
  await new Promise<void>((resolve) => {
    const pump = () => {
      const now = performance.now();
      while (due <= now && due < endAt) {
        if (outstanding >= MAX_OUTSTANDING) {
          notSent++;
        } else {
          send();
        }
        due += interval;
      }
      if (due < endAt) {
        setTimeout(pump, Math.max(0, Math.min(5, due - performance.now())));
      } else {
        resolve();
      }
    };
    pump();
  });
  const durationS = (performance.now() - startedAt) / 1000;
  // Let the last answers arrive (bounded: what is still out then counts as unanswered).
  const drainUntil = performance.now() + 15_000;
  while (outstanding > 0 && performance.now() < drainUntil) {
    await new Promise((r) => setTimeout(r, 5));
  }
  clearInterval(tick);
  await pool.destroy();
  if (failure) {
    throw failure;
  }
  return {
    requests,
    statuses,
    refused,
    refusedWithRetryAfter,
    acceptedEvents: ledger.acknowledged,
    latencyMs: latencies.percentiles(),
    startedAt,
    durationS,
    notSent,
  };
}
