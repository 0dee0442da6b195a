/**
 * Failed keys per client address in fixed one-minute windows: past `max` failures the address
 * is refused (429) until its window ends, valid key or not, so a key cannot be guessed by
 * trying. Bounded: past `maxAddresses` the oldest addresses are forgotten.
 */
export class FailureThrottle {
  private readonly byAddress = new Map<string, { window: number; failures: number }>();
  /** Requests refused because their address was throttled. */
  throttled = 0;

  constructor(
    private readonly max: number,
    private readonly windowMs = 60_000,
    private readonly maxAddresses = 100_000,
  ) {}

  /** Seconds until the address may try again, or 0 when it may try now. */
  blockedFor(address: string, now: number): number {
    const e = this.byAddress.get(address);
    const window = Math.floor(now / this.windowMs);
    if (e === undefined || e.window !== window || e.failures < this.max) {
      return 0;
    }
    this.throttled++;
    return Math.max(1, Math.ceil(((window + 1) * this.windowMs - now) / 1000));
  }

  fail(address: string, now: number): void {
    const window = Math.floor(now / this.windowMs);
    const e = this.byAddress.get(address);
    if (e !== undefined && e.window === window) {
      e.failures++;
      return;
    }
    this.byAddress.delete(address);
    if (this.byAddress.size >= this.maxAddresses) {
      this.byAddress.delete(this.byAddress.keys().next().value!);
    }
    this.byAddress.set(address, { window, failures: 1 });
  }
}
