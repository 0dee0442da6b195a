/**
 * What both load generators (closed-loop.ts, paced.ts) keep while they run and report at the
 * end: answers by status, refusals and whether they said when to retry, 202 latencies, and a
 * progress tick once a second.
 */
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

export type LoadTally = ReturnType<typeof createLoadTally>;

/** Starts counting (and ticking) now: `startedAt` is the load's start. */
export function createLoadTally(ledger: Ledger, onTick?: (p: LoadProgress) => void) {
  const latencies = new LatencyRecorder();
  const statuses: Record<string, number> = {};
  let requests = 0;
  let refused = 0;
  let refusedWithRetryAfter = 0;
  let failure: Error | undefined;
  const startedAt = performance.now();
  const tick = onTick
    ? setInterval(() => onTick({ requests, acceptedEvents: ledger.acknowledged, refused }), 1000)
    : undefined;
  return {
    startedAt,
    /** One answer; `retryAfter`: whether it carried a Retry-After header. */
    answered(status: number, retryAfter: boolean): void {
      requests++;
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 429 || status === 503) {
        refused++;
        if (retryAfter) {
          refusedWithRetryAfter++;
        }
      }
    },
    /** The acknowledgement latency of a 202. */
    accepted(ms: number): void {
      latencies.record(ms);
    },
    /** Keeps the first error (a ledger check that failed) to throw at the end. */
    fail(err: Error): void {
      failure ??= err;
    },
    stopTicking(): void {
      clearInterval(tick);
    },
    /** Ends the count: throws the first failure, else returns what was seen. */
    outcome(durationS: number, extra: Pick<LoadOutcome, 'notSent'> = {}): LoadOutcome {
      clearInterval(tick);
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
        ...extra,
      };
    },
  };
}
