import type { CanonicalEvent } from '../../src/events/event.js';
import { type IngestRoute, type PageView, ROUTES, v1Body } from './routes.js';

/**
 * Every request the load generator sends carries fresh, known event ids. The ledger hands out
 * the bodies and records which requests got a 202, so that the reports can be checked to count
 * exactly the acknowledged events. A request that got no answer at all (timeout, reset, cut at
 * the end of the run) may or may not have been accepted: it is kept and resent after the run
 * until it gets a 202 (resending is safe: the same event_id is counted once).
 */
export class Ledger {
  private nextSeq = 0;
  private nextReq = 0;
  private readonly inflight = new Map<number, number>();
  /** First sequence number of each acknowledged request. */
  readonly ackedStarts: number[] = [];
  acknowledged = 0;

  constructor(
    readonly site: string,
    readonly prefix: string,
    readonly batch: number,
    /** False for the bare baseline, whose 202 carries no count. */
    private readonly checkReplies = true,
    /** The route the requests go to (single events only for the seed routes). */
    readonly route: IngestRoute = ROUTES.v1,
  ) {
    if (route.name !== 'v1' && batch !== 1) {
      throw new Error(`${route.path} takes one event per request, not ${batch}`);
    }
  }

  /** A new request: its id, its body, the user agent and other headers to send it with. */
  take(): {
    reqId: number;
    body: string;
    userAgent: string;
    headers: Record<string, string> | undefined;
  } {
    const reqId = this.nextReq++;
    const start = this.nextSeq;
    this.nextSeq += this.batch;
    this.inflight.set(reqId, start);
    const userAgent = USER_AGENTS[this.agentOf(start)]!;
    if (this.route.name === 'v1') {
      return { reqId, body: this.body(start), userAgent, headers: undefined };
    }
    const e = this.pageView(start);
    return { reqId, body: this.route.body(e), userAgent, headers: this.route.headers?.(e) };
  }

  /**
   * Records the answer to a request. A 202 must accept every event it carried; anything else
   * accepted none of them.
   */
  settle(reqId: number, status: number, replyBody: string): void {
    const start = this.inflight.get(reqId);
    if (start === undefined) {
      return;
    }
    this.inflight.delete(reqId);
    if (status === 202) {
      if (!this.checkReplies) {
        this.ack(start);
        return;
      }
      const accepted = this.route.accepted(replyBody);
      if (accepted !== this.batch) {
        throw new Error(
          `202 accepted ${accepted} of ${this.batch} events: ${replyBody.slice(0, 200)}`,
        );
      }
      this.ack(start);
    }
  }

  /** How many requests are sent and not answered (yet). */
  unansweredCount(): number {
    return this.inflight.size;
  }

  /**
   * Requests sent and not answered; they are forgotten here and must be resent, to `/v1/events`
   * whatever the route (the same event ids: each counts once).
   */
  takeUnanswered(): { start: number; body: string }[] {
    const out = [...this.inflight.values()].map((start) => ({ start, body: this.body(start) }));
    this.inflight.clear();
    return out;
  }

  ack(start: number): void {
    this.ackedStarts.push(start);
    this.acknowledged += this.batch;
  }

  /** For --inject-fault: forget one acknowledged request, as if it had been counted without a 202. */
  forgetOne(): void {
    if (this.ackedStarts.pop() !== undefined) {
      this.acknowledged -= this.batch;
    }
  }

  /** Every acknowledged event id, in the order they were acknowledged. */
  *ackedIds(): Generator<string> {
    for (const start of this.ackedStarts) {
      for (let i = 0; i < this.batch; i++) {
        yield `${this.prefix}${start + i}`;
      }
    }
  }

  private body(start: number): string {
    if (this.batch === 1) {
      return this.event(start);
    }
    const parts: string[] = new Array<string>(this.batch);
    for (let i = 0; i < this.batch; i++) {
      parts[i] = this.event(start + i);
    }
    return `[${parts.join(',')}]`;
  }

  /**
   * A page view as a browser's tracker sends it: the page URL (one in 20 with UTM tags), the
   * referrer (one in 10 from a search engine, one in 10 from one of 7 other sites, the rest the
   * site's own pages), so that the aggregator derives every dimension as it would in real use.
   */
  /** The user agent of a request (by its first event): each user keeps one, as people do. */
  private agentOf(seq: number): number {
    return Math.floor(seq / this.batch) % USER_AGENTS.length;
  }

  private event(seq: number): string {
    return v1Body(this.pageView(seq));
  }

  private pageView(seq: number): PageView {
    const page = seq % 50;
    // 996 users, user n always with user agent n mod 6 (996 is a multiple of 6).
    const user = 6 * Math.floor((seq % 996) / 6) + this.agentOf(seq);
    const utm =
      seq % 20 === 0
        ? `?utm_source=newsletter&utm_medium=email&utm_campaign=c${seq % 3}&utm_content=b${seq % 2}`
        : '';
    const r = seq % 10;
    const referrer =
      r === 0
        ? 'https://www.google.com/'
        : r === 1
          ? `https://blog${seq % 7}.example.org/post`
          : `https://bench.example/p${(seq + 1) % 50}`;
    return {
      eventId: `${this.prefix}${seq}`,
      site: this.site,
      path: `/p${page}`,
      url: `https://bench.example/p${page}${utm}`,
      referrer,
      user: `u${user}`,
    };
  }
}

/** The load's user agents, one per request in turn: the major browsers on desktop and phone. */
export const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0',
];

/**
 * One of the load's page views as the aggregator gets it (canonical, user agent on it), for the
 * benchmarks that skip HTTP (rollup-cpu.ts, batch-sql.ts): the same URLs, UTM tags, referrers
 * and users as the ledger's bodies, one user agent per 100 events, as requests of 100 carry.
 */
export function canonicalPageView(seq: number, now: number): CanonicalEvent {
  const page = seq % 50;
  const utm =
    seq % 20 === 0
      ? `?utm_source=newsletter&utm_medium=email&utm_campaign=c${seq % 3}&utm_content=b${seq % 2}`
      : '';
  const r = seq % 10;
  return {
    event_id: `e${seq}`,
    type: 'page_view',
    ts: now - (seq % 1000),
    received_at: now,
    site_id: 'bench',
    path: `/p${page}`,
    url: `https://bench.example/p${page}${utm}`,
    referrer:
      r === 0
        ? 'https://www.google.com/'
        : r === 1
          ? `https://blog${seq % 7}.example.org/post`
          : `https://bench.example/p${(seq + 1) % 50}`,
    // One user agent per request of 100, kept by each user.
    user_id: `u${6 * Math.floor((seq % 996) / 6) + (Math.floor(seq / 100) % 6)}`,
    ua: USER_AGENTS[Math.floor(seq / 100) % USER_AGENTS.length]!,
  };
}
