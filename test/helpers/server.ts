import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { Config } from '../../src/config.js';
import type { Serving } from '../../src/main/serve.js';
import { serveInProcess } from '../harness/in-process.js';
import { waitFor } from '../harness/ready.js';

/** Polls until a condition holds (aggregation is asynchronous): the harness's, for the tests. */
export { waitFor };

export interface TestServer {
  url: string;
  dataDir: string;
  config: Config;
  running: Serving;
  /** Closes the server (graceful) and, unless `keepData`, removes its data directory. */
  close(opts?: { keepData?: boolean }): Promise<void>;
}

/** A fresh data directory whose embedded database is a copy of the migrated template. */
export function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tally-test-'));
  cpSync(inject('pgTemplate'), join(dir, 'pg'), { recursive: true });
  return dir;
}

/**
 * Starts the whole single-process service on a random port, as `npm start` does, with keys
 * off unless `env` sets AUTH (the security suite does).
 */
export async function startServer(
  env: Record<string, string> = {},
  dataDir = newDataDir(),
): Promise<TestServer> {
  const { url, config, running } = await serveInProcess(env, dataDir);
  return {
    url,
    dataDir,
    config,
    running,
    async close(opts = {}) {
      await running.close();
      if (!opts.keepData) {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

export async function get(url: string) {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** Resolves once the aggregator has consumed everything in the log. */
export async function caughtUp(server: TestServer, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => {
    const s = server.running.transport.stats();
    return s.waiting === 0 && (s.bytes ?? 0) === 0;
  }, timeoutMs);
}

export const today = () => new Date().toISOString().slice(0, 10);
