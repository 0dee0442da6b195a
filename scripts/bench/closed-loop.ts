import autocannon from 'autocannon';
import type { Ledger } from './ledger.js';
import { createLoadTally, type LoadOutcome, type LoadProgress } from './load-tally.js';

interface Ctx {
  reqId?: number;
}

/**
 * Closed loop with autocannon: `connections` keep-alive connections, one request in flight on
 * each (no pipelining, so the context a response is reported with is that of its request), for
 * `durationS` seconds. Each request gets a fresh body from the ledger, for the ledger's route.
 */
export async function runClosedLoop(
  url: string,
  ledger: Ledger,
  opts: {
    connections: number;
    durationS: number;
    onTick?: (p: LoadProgress) => void;
    /** Extra request headers (the edge-auth part sends an `Origin`). */
    headers?: Record<string, string>;
  },
): Promise<LoadOutcome> {
  const tally = createLoadTally(ledger, opts.onTick);
  await new Promise<void>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.durationS,
        timeout: 10,
        requests: [
          {
            method: ledger.route.method,
            path: ledger.route.path,
            headers: { 'content-type': 'application/json', ...opts.headers },
            setupRequest: (req, context) => {
              const { reqId, body, userAgent, headers } = ledger.take();
              (context as Ctx).reqId = reqId;
              return {
                ...req,
                body,
                headers: { ...req.headers, 'user-agent': userAgent, ...headers },
              };
            },
            onResponse: (status, body, context, headers) => {
              tally.answered(status, headers?.['retry-after'] !== undefined);
              const { reqId } = context as Ctx;
              if (reqId !== undefined) {
                try {
                  ledger.settle(reqId, status, body);
                } catch (err) {
                  tally.fail(err as Error);
                }
              }
            },
          },
        ],
      },
      (err?: Error) => (err ? reject(err) : resolve()),
    );
    instance.on('response', (_client, status, _bytes, responseTime) => {
      if (status === 202) {
        tally.accepted(responseTime);
      }
    });
  }).finally(() => tally.stopTicking());
  return tally.outcome((performance.now() - tally.startedAt) / 1000);
}
