/** Outcome of one rate-limit check, enough to send 429 with Retry-After and RateLimit-* headers. */
export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the current window resets. */
  resetMs: number;
}

/**
 * Fixed-window counter keyed by client (IP, site, ...). Shared through Redis when configured,
 * in memory otherwise. Must fail open: an unreachable backend allows the request.
 */
export interface RateLimiter {
  /** Counts `points` (default 1) against `key` unless that would pass the limit. Never rejects. */
  consume(key: string, points?: number): Promise<RateLimitDecision>;
  /**
   * `consume` decided at once from local state (the Redis limiter syncs in the background), for
   * hot-path hooks: a synchronous hook costs measurably less than an async one.
   */
  consumeSync(key: string, points?: number): RateLimitDecision;
  close(): Promise<void>;
}
