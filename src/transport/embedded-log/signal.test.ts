import { afterEach, describe, expect, it, vi } from 'vitest';
import { Signal } from './signal.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('Signal', () => {
  it('does not lose a notify that lands between checking the condition and waiting', async () => {
    const s = new Signal();
    const seen = s.generation;
    // …the waiter checks its condition (nothing there), awaits something else meanwhile…
    s.notify();
    await Promise.resolve();
    await expect(s.wait(seen)).resolves.toBe(true);
  });

  it('wakes every waiter of the current generation with one notify', async () => {
    const s = new Signal();
    const waits = [s.wait(s.generation), s.wait(s.generation, 60_000)];
    s.notify();
    await expect(Promise.all(waits)).resolves.toEqual([true, true]);
    expect(s.generation).toBe(1);
  });

  it('waits for a notify after the given generation, not one before it', async () => {
    vi.useFakeTimers();
    const s = new Signal();
    s.notify();
    const w = s.wait(s.generation, 100);
    await vi.advanceTimersByTimeAsync(100);
    await expect(w).resolves.toBe(false);
  });

  it('gives up after the timeout, and a later notify finds nothing left to wake', async () => {
    vi.useFakeTimers();
    const s = new Signal();
    const w = s.wait(s.generation, 50);
    await vi.advanceTimersByTimeAsync(49);
    let settled = false;
    void w.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(w).resolves.toBe(false);
    expect(() => s.notify()).not.toThrow();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ends a wait when the abort signal fires, or at once when it already has', async () => {
    const s = new Signal();
    const stop = new AbortController();
    const w = s.wait(s.generation, undefined, stop.signal);
    stop.abort();
    await expect(w).resolves.toBe(false);
    await expect(s.wait(s.generation, undefined, stop.signal)).resolves.toBe(false);
  });

  it('prefers a notify already given over an abort or a zero timeout', async () => {
    const s = new Signal();
    const stop = new AbortController();
    stop.abort();
    const seen = s.generation;
    s.notify();
    await expect(s.wait(seen, 0, stop.signal)).resolves.toBe(true);
    await expect(s.wait(s.generation, 0)).resolves.toBe(false);
  });
});
