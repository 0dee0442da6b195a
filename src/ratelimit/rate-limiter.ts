/** Outcome of one rate-limit check, enough to send 429 with Retry-After and RateLimit-* headers. */
export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the current window resets. */
  resetMs: number;
}

/**
 * Fixed or sliding window counter keyed by client (IP, site, ...). Shared through Redis when
 * configured, in memory otherwise. Must fail open: an unreachable backend allows the request.
 */
export interface RateLimiter {
  consume(key: string, points?: number): Promise<RateLimitDecision>;
  close(): Promise<void>;
}
