import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The directory lock of the embedded log: a LOCK file holding the owner's pid. One process owns
 * a log directory; a lock left by a dead process is taken over. `tally import` takes it too, so
 * that no server opens the embedded database while it writes there.
 */
const lockFile = (dir: string) => join(dir, 'LOCK');

/**
 * How long a start waits for the lock's owner to go. A process killed with SIGKILL still
 * exists while the kernel frees its memory (the embedded database's is large): a restart right
 * after it (a supervisor's) found it alive and refused to start.
 */
export const LOCK_WAIT_MS = 5_000;

/**
 * Takes the lock on `dir` (which must exist); throws while another live process holds it
 * after `waitMs`.
 */
export async function takeLock(dir: string, waitMs = LOCK_WAIT_MS): Promise<void> {
  const lock = lockFile(dir);
  const owner = Number(await readFile(lock, 'utf8').catch(() => ''));
  if (owner && owner !== process.pid) {
    const until = Date.now() + waitMs;
    while (isAlive(owner)) {
      if (Date.now() >= until) {
        throw new Error(`the log in ${dir} is in use by process ${owner}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await writeFile(lock, String(process.pid));
  const fh = await open(lock, 'r');
  await fh.sync();
  await fh.close();
}

/** Gives the lock up (the last step of closing the log). */
export async function releaseLock(dir: string): Promise<void> {
  await rm(lockFile(dir), { force: true });
}

/** Whether a process with this pid exists (EPERM: it does, but belongs to someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
