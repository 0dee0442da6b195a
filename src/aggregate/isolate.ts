/**
 * Finding the poison event: a batch whose apply failed with a data error (not a broken
 * connection) is split in halves, each applied apart, down to the single event that storage
 * refuses, which is dead-lettered. The rest of the batch is counted; the position (`last`)
 * moves only with the last part, so a crash half way replays what is left.
 */
export interface IsolateSteps<T, C> {
  /** Applies the items in one transaction, with `last` (the batch's position) when given. */
  apply(items: T[], last: C | undefined): Promise<void>;
  /** True for a failure of the connection or the server: the whole batch is retried, not split. */
  isRetriable(err: unknown): boolean;
  /** Stores the one refused item aside, with `last` when given, in one transaction. */
  deadLetter(item: T, err: unknown, last: C | undefined): Promise<void>;
}

export async function applyIsolating<T, C>(
  items: T[],
  last: C | undefined,
  steps: IsolateSteps<T, C>,
): Promise<void> {
  try {
    await steps.apply(items, last);
  } catch (err) {
    if (steps.isRetriable(err)) {
      throw err;
    }
    if (items.length === 1) {
      await steps.deadLetter(items[0]!, err, last);
      return;
    }
    const mid = Math.ceil(items.length / 2);
    await applyIsolating(items.slice(0, mid), undefined, steps);
    await applyIsolating(items.slice(mid), last, steps);
  }
}
