/** Health, readiness, graceful shutdown and start-up configuration errors, on real processes. */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startChild, type Child } from '../helpers/child.js';
import { newDataDir, today } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dataDir = newDataDir();
let child: Child | undefined;
afterAll(() => {
  child?.proc.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('lifecycle', () => {
  it('answers /health and /ready, then on SIGTERM finishes in-flight requests, drains the log and exits 0', async () => {
    child = await startChild({ DATA_DIR: dataDir });
    const health = await fetch(`${child.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      ok: true,
      status: 'healthy',
      dependencies: { storage: { status: 'up' }, log: { status: 'up' } },
    });
    const ready = await fetch(`${child.url}/ready`);
    expect(await ready.json()).toEqual({
      ready: true,
      migrated: true,
      log_open: true,
      log_writable: true,
      storage_writable: true,
      accepting: true,
    });

    const body = (i: number) =>
      JSON.stringify(
        Array.from({ length: 100 }, (_, j) => ({
          event_id: `sd-${i}-${j}`,
          type: 'page_view',
          site_id: 'sd',
          path: '/',
        })),
      );
    const inflight = Array.from({ length: 20 }, (_, i) =>
      fetch(`${child!.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body(i),
      })
        .then((r) => r.status)
        .catch(() => 0),
    );
    await new Promise((r) => setTimeout(r, 5));
    child.proc.kill('SIGTERM');
    const statuses = await Promise.all(inflight);
    expect(await child.exited, child.output()).toBe(0);
    const accepted = statuses.filter((s) => s === 202).length;
    expect(accepted).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 202 || s === 503 || s === 0)).toBe(true);

    // Everything acknowledged before the exit was drained into storage: counted at once on restart.
    child = await startChild({ DATA_DIR: dataDir });
    const stats = (await (
      await fetch(`${child.url}/v1/stats?site_id=sd&date=${today()}`)
    ).json()) as { total_views: number };
    expect(stats.total_views).toBeGreaterThanOrEqual(accepted * 100);
    child.proc.kill('SIGINT');
    expect(await child.exited).toBe(0);
  });

  it('stops start-up on a bad variable with one line naming it', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main/cli.ts', 'serve'], {
      cwd: ROOT,
      env: { ...process.env, PORT: 'eighty', DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^tally: invalid PORT="eighty": .+$/);
  });
});
