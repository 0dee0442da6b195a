/**
 * Helpers for replaying the seed READMEs' examples. Tally counts an event of any age from
 * MIN_EVENT_TS (default 2000-01-01) up to MAX_FUTURE_MS ahead in its own UTC bucket, so the
 * examples are sent exactly as written (literal bodies, literal 2024–2026 dates) and checked in
 * the seed's own report for that date; times before the floor are refused with 400 and counted
 * as `too_old` drops. `DAY` and `OTHER_DAY` are recent days for tests that are not README examples.
 */
import { expect } from 'vitest';
import { waitFor } from '../helpers/server.js';

const dayAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

/** A recent day and a second one (all-time figures) for tests that are not README examples. */
export const DAY = dayAgo(2);
export const OTHER_DAY = dayAgo(3);

/** The canonical refusal of a time before MIN_EVENT_TS (default 2000-01-01), without the field name. */
export const TOO_OLD =
  'is before 2000-01-01T00:00:00.000Z, the oldest time accepted (MIN_EVENT_TS)';
/** The canonical refusal of a time more than MAX_FUTURE_MS (default one hour) ahead. */
export const TOO_FAR_AHEAD = 'is more than 3600000 ms in the future';

export interface Raw {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** Any request; the body as text and, when it parses, as JSON. */
export async function request(url: string, init: RequestInit = {}): Promise<Raw> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** POSTs JSON; a string body is sent byte for byte (a README's `-d '…'`). */
export const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** Loads canonical events through `POST /v1/events` in chunks (setup for the statistics examples). */
export async function load(base: string, events: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < events.length; i += 200) {
    const r = await postJson(`${base}/v1/events`, events.slice(i, i + 200));
    expect(r.status, r.text).toBe(202);
  }
}

/** The drop ledger per reason (`GET /v1/drops`). */
export async function drops(base: string): Promise<Record<string, number>> {
  const r = await request(`${base}/v1/drops`);
  expect(r.status, r.text).toBe(200);
  return r.json.drops as Record<string, number>;
}

/**
 * Waits until the drop ledger holds exactly `n` events under `reason` (the edge flushes its
 * counts about once a second), failing with the last ledger seen.
 */
export async function waitForDrops(base: string, reason: string, n: number): Promise<void> {
  let last: Record<string, number> = {};
  try {
    await waitFor(async () => {
      last = await drops(base);
      return (last[reason] ?? 0) === n;
    }, 10_000);
  } catch {
    expect(last[reason] ?? 0, `drops.${reason} in ${JSON.stringify(last)}`).toBe(n);
  }
}

/** `n` copies of an event built from its index. */
export const times = (n: number, make: (i: number) => Record<string, unknown>) =>
  Array.from({ length: n }, (_, i) => make(i));

/** A site id no other test uses. */
export const uniqueSite = (name: string) => `${name}-${Math.random().toString(36).slice(2, 8)}`;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
