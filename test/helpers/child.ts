import { freePort, spawnTally, type Child as Spawned } from '../harness/spawn.js';
import { waitReady } from '../harness/ready.js';

/** A started `tally` process and the URL it listens on. */
export interface Child extends Spawned {
  url: string;
}

/**
 * Starts `tally <args>` as `npm start` does (node --import tsx src/main/cli.ts serve) on a free
 * port and waits until it is ready: `/ready` answers 200, or, for a process without HTTP
 * (`worker`), `readyLine` appears in its output. Killed (SIGKILL) if it is not ready in 60 s.
 */
export async function startChild(
  env: Record<string, string>,
  args = ['serve'],
  readyLine?: RegExp,
): Promise<Child> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnTally(args, {
    env: { HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
  });
  try {
    await waitReady([child], readyLine ? { line: readyLine } : { url }, { timeoutMs: 60_000 });
  } catch (err) {
    child.proc.kill('SIGKILL');
    throw err;
  }
  return { ...child, url };
}
