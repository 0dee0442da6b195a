/**
 * Waiting, with a deadline: for a condition (aggregation is asynchronous) and for started
 * processes to be ready, failing early, with their output, if one of them exits first.
 */
import type { Child } from './spawn.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `fn` every `intervalMs` until it returns true, failing after `timeoutMs` with
 * `failure()`. An exception from `fn` ends the wait at once.
 */
export async function waitFor(
  fn: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
  {
    intervalMs = 25,
    failure = () => new Error('condition not met in time'),
  }: { intervalMs?: number; failure?: () => Error } = {},
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) {
      return;
    }
    if (Date.now() > end) {
      throw failure();
    }
    await sleep(intervalMs);
  }
}

/**
 * What "ready" means: `GET <url>/ready` answers 200, or, for processes without HTTP
 * (`tally worker`), `line` has appeared in the output of every child.
 */
export type ReadyWhen = { url: string; line?: never } | { line: RegExp; url?: never };

/**
 * Waits until `children` are ready (`until`); throws, with the output, if one of them exits
 * first or `timeoutMs` passes. Stopping them after a failure is the caller's choice.
 */
export async function waitReady(
  children: Child[],
  until: ReadyWhen,
  { timeoutMs = 60_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  let dead: { child: Child; code: number | null } | undefined;
  for (const child of children) {
    void child.exited.then((code) => {
      dead ??= { child, code };
    });
  }
  const outputs = () => children.map((c) => `--- ${c.name}:\n${c.output()}`).join('\n');
  const ready = async () => {
    if (dead) {
      throw new Error(
        `${dead.child.name} exited (${dead.code}) before it was ready:\n${dead.child.output()}`,
      );
    }
    if (until.line) {
      const line = until.line;
      return children.every((c) => line.test(c.output()));
    }
    return answers200(`${until.url}/ready`);
  };
  await waitFor(ready, timeoutMs, {
    intervalMs,
    failure: () =>
      new Error(
        `${children.map((c) => c.name).join(', ')} not ready within ${timeoutMs / 1000} s ` +
          `(${until.url ? `${until.url}/ready did not answer 200` : `no ${String(until.line)}`}):\n${outputs()}`,
      ),
  });
}

async function answers200(url: string): Promise<boolean> {
  try {
    const r = await fetch(url);
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false; // not listening yet
  }
}
