import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { chunkBy } from './chunk-by.js';
import { GroupCommit } from './group-commit.js';

describe('GroupCommit', () => {
  it('joins the adds of one turn into one write, and those made during a write into the next', async () => {
    const writes: number[][] = [];
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const gc = new GroupCommit<number>(async (items) => {
      writes.push(items);
      await gate;
    }, 1_000_000);
    const first = [gc.add(1, 10), gc.add(2, 10), gc.add(3, 10)];
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const second = [gc.add(4, 10), gc.add(5, 10)];
    const written = gate;
    gate = Promise.resolve();
    release();
    await written;
    await Promise.all([...first, ...second]);
    await gc.drain();
    expect(writes).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('rejects every waiter of a failed write with a 503, and the next write goes on', async () => {
    let fail = true;
    const gc = new GroupCommit<string>(async () => {
      if (fail) {
        fail = false;
        throw new Error('broker gone');
      }
    }, 1_000_000);
    const failed = await Promise.allSettled([gc.add('a', 1), gc.add('b', 1)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const reason = (failed[0] as PromiseRejectedResult).reason as AppError;
    expect(reason).toBeInstanceOf(AppError);
    expect(reason.statusCode).toBe(503);
    await expect(gc.add('c', 1)).resolves.toBeUndefined();
  });

  it('refuses with 503 once more than maxPendingBytes wait for the next write', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gc = new GroupCommit<number>(() => gate, 100);
    const inFlight = gc.add(1, 10);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const queued = [gc.add(2, 60), gc.add(3, 60)];
    await expect(gc.add(4, 1)).rejects.toMatchObject({ statusCode: 503 });
    release();
    await Promise.all([inFlight, ...queued]);
  });
});

describe('GroupCommit without joinTurn', () => {
  it('starts the first write at once with the lone add; the others of the turn join the next', async () => {
    const writes: number[][] = [];
    const gc = new GroupCommit<number>(
      async (items) => {
        writes.push(items);
      },
      1_000_000,
      { joinTurn: false },
    );
    const all = [gc.add(1, 1), gc.add(2, 1), gc.add(3, 1)];
    // The first write began synchronously, before the other adds of this turn.
    expect(writes).toEqual([[1]]);
    await Promise.all(all);
    await gc.drain();
    expect(writes).toEqual([[1], [2, 3]]);
  });
});

describe('chunkBy', () => {
  it('splits by weight, keeping items whole and a heavy one on its own', () => {
    expect(chunkBy([1, 2, 3, 9, 1], (n) => n, 5)).toEqual([[1, 2], [3], [9], [1]]);
    expect(chunkBy([], (n: number) => n, 5)).toEqual([]);
  });
});
