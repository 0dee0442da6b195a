import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Small volumes for the disk-full tests: a tmpfs mounted by the test itself, which needs root
 * (CI runs as root) and a kernel that lets the process mount.
 */

/** Whether this process may mount a tmpfs: tries one of 1 MiB. */
export function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) {
    return false;
  }
  const probe = mkdtempSync(join(tmpdir(), 'tally-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `size` (mount's syntax: `64m`) on `dir`. */
export function mountTmpfs(dir: string, size: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
}
