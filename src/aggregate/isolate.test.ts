import { describe, expect, it } from 'vitest';
import { applyIsolating, type IsolateSteps } from './isolate.js';

class DataError extends Error {}
class ConnectionError extends Error {}

/** Storage that refuses any transaction holding one of `poison`, recording what it committed. */
function storage(poison: number[], opts: { down?: boolean } = {}) {
  const committed: { items: number[]; last: string | undefined }[] = [];
  const dead: { item: number; last: string | undefined }[] = [];
  const steps: IsolateSteps<number, string> = {
    apply: async (items, last) => {
      if (opts.down) {
        throw new ConnectionError('connection refused');
      }
      if (items.some((i) => poison.includes(i))) {
        throw new DataError('value out of range');
      }
      committed.push({ items, last });
    },
    isRetriable: (err) => err instanceof ConnectionError,
    deadLetter: async (item, _err, last) => {
      dead.push({ item, last });
    },
  };
  return { steps, committed, dead };
}

describe('applyIsolating', () => {
  it('applies a good batch whole, once, with its position', async () => {
    const s = storage([]);
    await applyIsolating([1, 2, 3, 4], 'p9', s.steps);
    expect(s.committed).toEqual([{ items: [1, 2, 3, 4], last: 'p9' }]);
    expect(s.dead).toEqual([]);
  });

  it('dead-letters exactly the poison event and commits every other one once', async () => {
    const s = storage([5]);
    const items = [1, 2, 3, 4, 5, 6, 7];
    await applyIsolating(items, 'p7', s.steps);
    expect(s.dead).toEqual([{ item: 5, last: undefined }]);
    expect(s.committed.flatMap((c) => c.items).sort()).toEqual([1, 2, 3, 4, 6, 7]);
    // The position moves with the last part only.
    expect(s.committed.filter((c) => c.last !== undefined)).toEqual([{ items: [7], last: 'p7' }]);
  });

  it('carries the position with the dead letter when the poison event is last', async () => {
    const s = storage([4]);
    await applyIsolating([1, 2, 3, 4], 'p4', s.steps);
    expect(s.dead).toEqual([{ item: 4, last: 'p4' }]);
    expect(s.committed).toEqual([
      { items: [1, 2], last: undefined },
      { items: [3], last: undefined },
    ]);
  });

  it('isolates several poison events in one batch', async () => {
    const s = storage([1, 8]);
    await applyIsolating([1, 2, 3, 4, 5, 6, 7, 8], 'p8', s.steps);
    expect(s.dead.map((d) => d.item)).toEqual([1, 8]);
    expect(s.committed.flatMap((c) => c.items).sort()).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('does not split on a connection failure: the whole batch is retried by its caller', async () => {
    const s = storage([], { down: true });
    await expect(applyIsolating([1, 2, 3], 'p3', s.steps)).rejects.toBeInstanceOf(ConnectionError);
    expect(s.committed).toEqual([]);
    expect(s.dead).toEqual([]);
  });
});
