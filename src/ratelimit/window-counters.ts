import type { RateLimitDecision } from './rate-limiter.js';

/** One key's count in its current fixed window. */
export interface WindowEntry {
  readonly key: string;
  /** Window number: `floor(now / windowMs)`. */
  window: number;
  /** Hits of every instance in this window as last read from the shared store (0 in memory). */
  global: number;
  /** Local hits not yet sent to the shared store. */
  pending: number;
  /** Local hits sent, reply not yet received. */
  inflight: number;
  /** Whether the entry sits in the dirty list (has pending hits to send). */
  queued: boolean;
}

export interface WindowCountersOptions {
  windowMs: number;
  max: number;
  /** Bound on tracked keys; past it the oldest are forgotten (their counts restart at 0). */
  maxKeys: number;
  /** Keep the dirty list for a shared store's sync. */
  shared: boolean;
}

/**
 * Fixed-window counters in a Map: the whole hot path of both limiters, a lookup and a few
 * additions. The Redis limiter adds `global` (everyone's hits) from its periodic sync; a key is
 * refused as soon as global + local unsent hits would pass `max`. Since `global` only grows
 * within a window, a refusal is never wrong; an admission can be late by one sync interval.
 */
export class WindowCounters {
  private readonly entries = new Map<string, WindowEntry>();
  /** Entries with pending hits, for the Redis sync (unused in memory mode). */
  dirty: WindowEntry[] = [];
  private lastSweepWindow = 0;

  constructor(readonly opts: WindowCountersOptions) {}

  get size(): number {
    return this.entries.size;
  }

  consume(key: string, points: number, now: number): RateLimitDecision {
    const { windowMs, max } = this.opts;
    const window = Math.floor(now / windowMs);
    const resetMs = (window + 1) * windowMs - now;
    let e = this.entries.get(key);
    if (e === undefined) {
      e = this.insert(key, window);
    } else if (e.window !== window) {
      // New window: restart, and move the key to the end of the eviction order.
      e.window = window;
      e.global = e.pending = e.inflight = 0;
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    const used = e.global + e.pending + e.inflight;
    if (used + points > max) {
      return { allowed: false, limit: max, remaining: Math.max(0, max - used), resetMs };
    }
    e.pending += points;
    if (this.opts.shared && !e.queued) {
      e.queued = true;
      this.dirty.push(e);
    }
    return { allowed: true, limit: max, remaining: max - used - points, resetMs };
  }

  /** Takes the entries with hits to send; the caller owns them until it calls `settle`. */
  takeDirty(): WindowEntry[] {
    const batch = this.dirty;
    this.dirty = [];
    for (const e of batch) {
      e.queued = false;
    }
    return batch;
  }

  requeue(e: WindowEntry): void {
    if (!e.queued && e.pending > 0) {
      e.queued = true;
      this.dirty.push(e);
    }
  }

  /** Forgets keys (and unsent hits) of past windows; cheap to call often, works once per window. */
  sweep(now: number): void {
    const window = Math.floor(now / this.opts.windowMs);
    if (window === this.lastSweepWindow) {
      return;
    }
    this.lastSweepWindow = window;
    for (const [key, e] of this.entries) {
      if (e.window < window) {
        this.entries.delete(key);
      }
    }
    // Unsent hits of past windows (Redis down for a while) are dropped, not kept in memory.
    if (this.dirty.some((e) => e.window < window)) {
      this.dirty = this.dirty.filter((e) => {
        if (e.window < window) {
          e.queued = false;
          e.pending = 0;
          return false;
        }
        return true;
      });
    }
  }

  clear(): void {
    this.entries.clear();
    this.dirty = [];
  }

  private insert(key: string, window: number): WindowEntry {
    if (this.entries.size >= this.opts.maxKeys) {
      this.lastSweepWindow = -1;
      this.sweep(window * this.opts.windowMs);
      // Still full: forget the oldest tenth (insertion order), a burst of fresh keys at once.
      let drop = this.entries.size >= this.opts.maxKeys ? Math.ceil(this.opts.maxKeys / 10) : 0;
      for (const k of this.entries.keys()) {
        if (drop-- <= 0) {
          break;
        }
        this.entries.delete(k);
      }
    }
    const e: WindowEntry = { key, window, global: 0, pending: 0, inflight: 0, queued: false };
    this.entries.set(key, e);
    return e;
  }
}
