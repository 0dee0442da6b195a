import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The directory lock of the embedded log: a LOCK file holding the owner's pid. One process owns
 * a log directory; a lock left by a dead process is taken over. `tally import` takes it too, so
 * that no server opens the embedded database while it writes there.
 */
const lockFile = (dir: string) => join(dir, 'LOCK');

/** Takes the lock on `dir` (which must exist); throws while another live process holds it. */
export async function takeLock(dir: string): Promise<void> {
  const lock = lockFile(dir);
  const owner = Number(await readFile(lock, 'utf8').catch(() => ''));
  if (owner && owner !== process.pid && isAlive(owner)) {
    throw new Error(`the log in ${dir} is in use by process ${owner}`);
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
