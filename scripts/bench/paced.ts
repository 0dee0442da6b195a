import { Pool, errors } from 'undici';
import type { Ledger } from './ledger.js';
import { createLoadTally, type LoadOutcome, type LoadProgress } from './load-tally.js';

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
  const tally = createLoadTally(ledger, opts.onTick);
  let notSent = 0;
  let outstanding = 0;
  const interval = 1000 / opts.reqPerS;
  const endAt = tally.startedAt + opts.durationS * 1000;

  const send = () => {
    const { reqId, body, userAgent, headers } = ledger.take();
    const sentAt = performance.now();
    outstanding++;
    pool
      .request({
        path: ledger.route.path,
        method: ledger.route.method,
        headers: { 'content-type': 'application/json', 'user-agent': userAgent, ...headers },
        body,
      })
      .then(async (res) => {
        const text = await res.body.text();
        const status = res.statusCode;
        tally.answered(status, res.headers['retry-after'] !== undefined);
        if (status === 202) {
          tally.accepted(performance.now() - sentAt);
        }
        ledger.settle(reqId, status, text);
      })
      // No answer: the ledger keeps the request as unanswered, to be resent after the run.
      .catch((err: unknown) => {
        if (!(err instanceof errors.UndiciError) && !(err as { code?: string }).code) {
          tally.fail(err as Error);
        }
      })
      .finally(() => outstanding--);
  };

  let due = tally.startedAt;
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
  const durationS = (performance.now() - tally.startedAt) / 1000;
  // Let the last answers arrive (bounded: what is still out then counts as unanswered).
  const drainUntil = performance.now() + 15_000;
  while (outstanding > 0 && performance.now() < drainUntil) {
    await new Promise((r) => setTimeout(r, 5));
  }
  tally.stopTicking();
  await pool.destroy();
  return tally.outcome(durationS, { notSent });
}
