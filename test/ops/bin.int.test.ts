/** `tally` as a command: bin/tally.mjs (what `npx tally` and npm's bin link run), no build step. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/spawn.js';

const tally = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/tally.mjs', ...args], { cwd: REPO_ROOT, encoding: 'utf8' });

describe('bin/tally.mjs', () => {
  it('runs the source without a build: help, subcommand help, and a usage error', () => {
    const help = tally('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: tally <command>/);
    expect(help.stdout).toContain('sites     register sites');
    const keys = tally('keys', '--help');
    expect(keys.status).toBe(0);
    expect(keys.stdout).toContain('tally keys create --scope read|ingest|admin');
    const bad = tally('frobnicate');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^usage: tally <command>/);
  });
});
