/**
 * HTTP for the security suites, over node:http rather than fetch: fetch sets or drops `Origin`
 * and `Referer` itself and refuses header bytes that HTTP allows, and these tests need both
 * exactly as written. Every request names its client address in `X-Forwarded-For` (the servers
 * trust 127.0.0.1 as a proxy), so that one test's failed keys never throttle another's.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { expect } from 'vitest';
import { waitFor } from '../harness/ready.js';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

export interface CallOptions {
  method?: string;
  /** Sent as `Authorization: Bearer <key>`. */
  key?: string;
  /** The client address (X-Forwarded-For). */
  from?: string;
  /** A JSON body (a string is sent as it is). */
  body?: unknown;
  headers?: Record<string, string>;
}

/** One request; the body as text and, when it parses, as JSON. */
export function call(base: string, path: string, opts: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key !== undefined) {
    headers['authorization'] = `Bearer ${opts.key}`;
  }
  if (opts.from !== undefined) {
    headers['x-forwarded-for'] = opts.from;
  }
  let payload: Buffer | undefined;
  if (opts.body !== undefined) {
    payload = Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      { method: opts.method ?? 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Client addresses, a new one per call: `10.<n>.<n>.<n>` under a per-suite first octet pair. */
export function addresses(prefix: number) {
  let n = 0;
  return () => {
    n++;
    return `10.${prefix}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
  };
}

/** A key that looks like Tally's (`tally_<10>_<43>`) and is nobody's. */
export function fakeKey(): string {
  return `tally_${randomBytes(5).toString('hex')}_${randomBytes(32).toString('base64url')}`;
}

/** The 401 every route answers for a request without a key, in the API's own error shape. */
export const NO_KEY = 'an API key is required: send Authorization: Bearer <key>';

/** Asserts a 401 that tells the client how to authenticate. */
export function expect401(r: Reply, label: string): void {
  expect(r.status, `${label}: ${r.text}`).toBe(401);
  expect(r.headers['www-authenticate'], label).toBe('Bearer realm="tally"');
}

/** Admin calls for the setup of a suite. */
export function adminOf(base: string, key: string, from: string) {
  const ok = async (path: string, opts: CallOptions, status: number) => {
    const r = await call(base, path, { key, from, ...opts });
    expect(r.status, `${opts.method ?? 'GET'} ${path}: ${r.text}`).toBe(status);
    return r.json;
  };
  return {
    addSite: (site: Record<string, unknown>) =>
      ok('/v1/sites', { method: 'POST', body: site }, 201),
    /** Creates a key; returns it whole (it is shown once) and its id. */
    addKey: async (scope: string, sites: string[] = []): Promise<{ id: string; key: string }> => {
      const k = await ok('/v1/keys', { method: 'POST', body: { scope, sites } }, 201);
      return { id: k.id, key: k.key };
    },
    keys: async (): Promise<any[]> => (await ok('/v1/keys', {}, 200)).keys,
    drops: async (): Promise<Record<string, number>> => (await ok('/v1/drops', {}, 200)).drops,
    failures: () => ok('/v1/auth/failures', {}, 200),
    stats: (site: string, day: string) => ok(`/v1/stats?site_id=${site}&date=${day}`, {}, 200),
  };
}

export type Admin = ReturnType<typeof adminOf>;

/**
 * Waits until the drop ledger (flushed about every second) has grown by exactly `expected` since
 * `before`, then checks that no other reason moved.
 */
export async function expectDrops(
  admin: Admin,
  before: Record<string, number>,
  expected: Record<string, number>,
): Promise<void> {
  const delta = (now: Record<string, number>) => {
    const d: Record<string, number> = {};
    for (const reason of new Set([...Object.keys(now), ...Object.keys(before)])) {
      const n = (now[reason] ?? 0) - (before[reason] ?? 0);
      if (n !== 0) {
        d[reason] = n;
      }
    }
    return d;
  };
  let last: Record<string, number> = {};
  await waitFor(
    async () => {
      last = delta(await admin.drops());
      return Object.entries(expected).every(([reason, n]) => (last[reason] ?? 0) >= n);
    },
    10_000,
    { intervalMs: 200, failure: () => new Error(`drops moved by ${JSON.stringify(last)}`) },
  );
  // One more flush period: a count that is too high shows up here.
  await new Promise((r) => setTimeout(r, 1200));
  expect(delta(await admin.drops())).toEqual(expected);
}
