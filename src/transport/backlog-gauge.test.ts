import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BacklogGauge } from './backlog-gauge.js';

// Pure: a fake reader and fake timers, no broker.
describe('BacklogGauge', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A reader whose reads the test settles by hand. */
  function fakeReader() {
    const reads: { resolve: (n: number) => void; reject: (e: Error) => void }[] = [];
    const read = vi.fn(
      () => new Promise<number>((resolve, reject) => reads.push({ resolve, reject })),
    );
    return { read, reads };
  }

  it('reads at start, and reading the figure never starts a read', async () => {
    const { read, reads } = fakeReader();
    const gauge = new BacklogGauge(read, 1000);
    expect(gauge.waiting).toBe(0);
    gauge.start();
    gauge.start();
    expect(read).toHaveBeenCalledTimes(1);
    reads[0]!.resolve(7);
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 5; i++) {
      expect(gauge.waiting).toBe(7);
    }
    expect(read).toHaveBeenCalledTimes(1);
    gauge.stop();
  });

  it('reads again `everyMs` after the previous read ended, never two at once', async () => {
    const { read, reads } = fakeReader();
    const gauge = new BacklogGauge(read, 1000);
    gauge.start();
    await vi.advanceTimersByTimeAsync(5000); // a slow broker: the first read is still running
    expect(read).toHaveBeenCalledTimes(1);
    reads[0]!.resolve(3);
    await vi.advanceTimersByTimeAsync(999);
    expect(read).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(read).toHaveBeenCalledTimes(2);
    reads[1]!.resolve(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(gauge.waiting).toBe(0);
    gauge.stop();
  });

  it('keeps the last figure when a read fails, and goes on reading', async () => {
    const { read, reads } = fakeReader();
    const gauge = new BacklogGauge(read, 1000);
    gauge.start();
    reads[0]!.resolve(4);
    await vi.advanceTimersByTimeAsync(1000);
    reads[1]!.reject(new Error('broker away'));
    await vi.advanceTimersByTimeAsync(0);
    expect(gauge.waiting).toBe(4);
    await vi.advanceTimersByTimeAsync(1000);
    expect(read).toHaveBeenCalledTimes(3);
    gauge.stop();
  });

  it('stops reading once stopped, and its timer never holds the process', async () => {
    const { read, reads } = fakeReader();
    const unref = vi.spyOn(globalThis, 'setTimeout');
    const gauge = new BacklogGauge(read, 1000);
    gauge.start();
    reads[0]!.resolve(1);
    await vi.advanceTimersByTimeAsync(0);
    const timer = unref.mock.results.at(-1)?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    gauge.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(read).toHaveBeenCalledTimes(1);
    gauge.start(); // stopped for good
    expect(read).toHaveBeenCalledTimes(1);
    unref.mockRestore();
  });
});
