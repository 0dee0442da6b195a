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
  ) {}

  /** A new request: its id and its body. */
  take(): { reqId: number; body: string } {
    const reqId = this.nextReq++;
    const start = this.nextSeq;
    this.nextSeq += this.batch;
    this.inflight.set(reqId, start);
    return { reqId, body: this.body(start) };
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
      const accepted = Number(/"accepted":(\d+)/.exec(replyBody)?.[1]);
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

  /** Requests sent and not answered; they are forgotten here and must be resent. */
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

  private event(seq: number): string {
    return `{"event_id":"${this.prefix}${seq}","type":"page_view","site_id":"${this.site}","path":"/p${seq % 50}","user_id":"u${seq % 1000}"}`;
  }
}
