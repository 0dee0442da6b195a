/**
 * Helpers for replaying the seed READMEs' curl examples. Their dates (2024–2026) lie outside
 * the dedup window, so the examples are replayed with the date moved to a recent day and the
 * time of day kept; the literal dates are tested separately (400, "older than the dedup window").
 */
import { expect } from 'vitest';

const dayAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

/** The day the README examples are replayed on, and a second day for all-time figures. */
export const DAY = dayAgo(2);
export const OTHER_DAY = dayAgo(3);

/** `2025-11-12T19:30:01Z` → `${DAY}T19:30:01Z`. */
export const onDay = (iso: string, day = DAY) => `${day}${iso.slice(10)}`;

/** Epoch ms of a README unix timestamp moved to DAY (same time of day). */
export const msOnDay = (ms: number, day = DAY) =>
  Date.parse(`${day}T00:00:00Z`) + (ms % 86_400_000);

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

/** `n` copies of an event built from its index. */
export const times = (n: number, make: (i: number) => Record<string, unknown>) =>
  Array.from({ length: n }, (_, i) => make(i));

/** A site id no other test uses. */
export const uniqueSite = (name: string) => `${name}-${Math.random().toString(36).slice(2, 8)}`;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
