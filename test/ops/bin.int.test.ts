/** `tally` as a command: bin/tally.mjs (what `npx tally` and npm's bin link run), no build step. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, START } from '../harness/spawn.js';

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

  it('npm start runs Tally as the tests and the benchmark do', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const env = Object.entries(START.env).map(([k, v]) => `${k}=${v}`);
    expect(pkg.scripts.start).toBe(
      [...env, 'node', ...START.nodeArgs, START.script, 'serve'].join(' '),
    );
  });
});
