import autocannon from 'autocannon';
import { LatencyRecorder } from './latency.js';
import type { Ledger } from './ledger.js';
import type { Percentiles } from './types.js';

/** What a load generator saw: counts per status, ack latencies, and how long it ran. */
export interface LoadOutcome {
  requests: number;
  statuses: Record<string, number>;
  refused: number;
  refusedWithRetryAfter: number;
  /** Events acknowledged during the load itself. */
  acceptedEvents: number;
  latencyMs: Percentiles;
  /** performance.now() at the first request, and the load's length in seconds. */
  startedAt: number;
  durationS: number;
  notSent?: number;
}

export interface LoadProgress {
  requests: number;
  acceptedEvents: number;
  refused: number;
}

interface Ctx {
  reqId?: number;
}

/**
 * Closed loop with autocannon: `connections` keep-alive connections, one request in flight on
 * each (no pipelining, so the context a response is reported with is that of its request), for
 * `durationS` seconds. Each request gets a fresh body from the ledger.
 */
export async function runClosedLoop(
  url: string,
  ledger: Ledger,
  opts: { connections: number; durationS: number; onTick?: (p: LoadProgress) => void },
): Promise<LoadOutcome> {
  const latencies = new LatencyRecorder();
  const statuses: Record<string, number> = {};
  let requests = 0;
  let refused = 0;
  let refusedWithRetryAfter = 0;
  let failure: Error | undefined;
  const startedAt = performance.now();
  const tick = opts.onTick
    ? setInterval(
        () => opts.onTick?.({ requests, acceptedEvents: ledger.acknowledged, refused }),
        1000,
      )
    : undefined;
  const acceptedEvents = await new Promise<number>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.durationS,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: '/v1/events',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req, context) => {
              const { reqId, body } = ledger.take();
              (context as Ctx).reqId = reqId;
              return { ...req, body };
            },
            onResponse: (status, body, context, headers) => {
              requests++;
              statuses[status] = (statuses[status] ?? 0) + 1;
              if (status === 429 || status === 503) {
                refused++;
                if (headers?.['retry-after'] !== undefined) {
                  refusedWithRetryAfter++;
                }
              }
              const { reqId } = context as Ctx;
              if (reqId !== undefined) {
                try {
                  ledger.settle(reqId, status, body);
                } catch (err) {
                  failure ??= err as Error;
                }
              }
            },
          },
        ],
      },
      (err?: Error) => (err ? reject(err) : resolve(ledger.acknowledged)),
    );
    instance.on('response', (_client, status, _bytes, responseTime) => {
      if (status === 202) {
        latencies.record(responseTime);
      }
    });
  }).finally(() => clearInterval(tick));
  const durationS = (performance.now() - startedAt) / 1000;
  if (failure) {
    throw failure;
  }
  return {
    requests,
    statuses,
    refused,
    refusedWithRetryAfter,
    acceptedEvents,
    latencyMs: latencies.percentiles(),
    startedAt,
    durationS,
  };
}
