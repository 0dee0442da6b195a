/**
 * A notify/wait signal that cannot lose a wake-up: `notify()` bumps a generation, and a waiter
 * waits for a generation later than the one it read *before* checking its condition. A notify
 * that lands between the check and the wait (across an `await`, say) makes the wait return at
 * once instead of being missed. Any number of waiters; one notify wakes them all.
 */
export class Signal {
  private gen = 0;
  private readonly wakers = new Set<() => void>();

  /** How many times `notify()` was called. Read it before checking what you wait for. */
  get generation(): number {
    return this.gen;
  }

  /** Wakes every current waiter, and every later `wait` from an earlier generation. */
  notify(): void {
    this.gen++;
    for (const wake of [...this.wakers]) {
      wake();
    }
  }

  /**
   * Resolves once `notify()` was called after generation `since` (at once if it already was):
   * true. Resolves false after `timeoutMs` (no timeout when undefined) or once `abort` fires.
   */
  wait(since: number, timeoutMs?: number, abort?: AbortSignal): Promise<boolean> {
    if (this.gen !== since) {
      return Promise.resolve(true);
    }
    if (abort?.aborted || (timeoutMs !== undefined && timeoutMs <= 0)) {
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      const done = (notified: boolean) => {
        clearTimeout(timer);
        abort?.removeEventListener('abort', onAbort);
        this.wakers.delete(onNotify);
        resolve(notified);
      };
      const onNotify = () => done(true);
      const onAbort = () => done(false);
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => done(false), timeoutMs);
      this.wakers.add(onNotify);
      abort?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
