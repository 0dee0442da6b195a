import { sleep } from '../../test/harness/ready.js';
import type { Ledger } from './ledger.js';

/**
 * Resends every request that got no answer until it gets a 202, honouring Retry-After. Each
 * one may already have been accepted; the same event ids make the resend count once.
 * Returns the number of events resent.
 */
export async function resendUnanswered(
  url: string,
  ledger: Ledger,
  deadlineMs = 120_000,
): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  let events = 0;
  for (const { start, body } of ledger.takeUnanswered()) {
    for (;;) {
      const res = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).catch(() => undefined);
      const text = res ? await res.text() : '';
      if (res?.status === 202) {
        ledger.ack(start);
        events += ledger.batch;
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `could not resend an unanswered request: ${res?.status ?? 'no answer'} ${text.slice(0, 200)}`,
        );
      }
      const retryS = Number(res?.headers.get('retry-after') ?? 1);
      await sleep(Math.min(5, Number.isFinite(retryS) ? retryS : 1) * 1000);
    }
  }
  return events;
}

export interface CountOutcome {
  counted: number;
  exact: boolean;
  /** performance.now() when the reports first showed every acknowledged event. */
  caughtUpAt: number;
  error?: string;
}

/**
 * Polls the site's report until it counts `expected` page views. More than expected fails at
 * once (an unacknowledged or a duplicate event was counted); no progress for `stallMs` fails too
 * (an acknowledged event was lost).
 */
export async function waitCounted(
  url: string,
  site: string,
  expected: number,
  fromDate: string,
  opts: { stallMs?: number; onProgress?: (counted: number) => void } = {},
): Promise<CountOutcome> {
  const stallMs = opts.stallMs ?? 60_000;
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const counted = await totalViews(url, site, fromDate);
    const now = performance.now();
    opts.onProgress?.(counted);
    if (counted === expected) {
      // Equal now; but an event that should not count may still be on its way. Confirm once the
      // log reports nothing waiting for the aggregator.
      const settled = await settledCount(url, site, fromDate);
      if (settled === expected) {
        return { counted, exact: true, caughtUpAt: now };
      }
      return {
        counted: settled,
        exact: false,
        caughtUpAt: now,
        error: `counted ${settled - expected} more than acknowledged`,
      };
    }
    if (counted > expected) {
      return {
        counted,
        exact: false,
        caughtUpAt: now,
        error: `counted ${counted - expected} more than acknowledged`,
      };
    }
    if (counted !== last) {
      last = counted;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > stallMs) {
      return {
        counted,
        exact: false,
        caughtUpAt: now,
        error: `${expected - counted} acknowledged events not counted after ${stallMs / 1000} s without progress`,
      };
    }
    await sleep(100);
  }
}

/**
 * The count once `/health` says no acknowledged event waits for the aggregator (at most 10 s;
 * Redis and Kafka refresh that figure every second or so), plus a short pause.
 */
async function settledCount(url: string, site: string, fromDate: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const health = (await fetch(`${url}/health`)
      .then((r) => r.json())
      .catch(() => undefined)) as { dependencies?: { log?: { waiting?: number } } } | undefined;
    const waiting = health?.dependencies?.log?.waiting;
    if (waiting === undefined || waiting === 0) {
      break;
    }
    await sleep(100);
  }
  await sleep(300);
  return totalViews(url, site, fromDate);
}

async function totalViews(url: string, site: string, fromDate: string): Promise<number> {
  const q = new URLSearchParams({ site_id: site, from: fromDate, to: utcDate() });
  const res = await fetch(`${url}/v1/stats?${q.toString()}`);
  if (!res.ok) {
    throw new Error(`GET /v1/stats answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  }
  const body = (await res.json()) as { total_views: number };
  return body.total_views;
}

export const utcDate = (d = new Date()) => d.toISOString().slice(0, 10);
