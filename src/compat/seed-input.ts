import type { FastifyRequest } from 'fastify';
import type { CanonicalEvent } from '../events/event.js';
import { requestContext } from '../http/request-context.js';
import type { Ingest } from '../ingest/ingest.js';

/**
 * Validates, enriches and publishes one canonical event; resolves only once it is durable in
 * the log (throws the canonical AppError 400/413/503 otherwise, which the seed renders).
 */
export async function acceptOne(
  ingest: Ingest,
  req: FastifyRequest,
  raw: Record<string, unknown>,
): Promise<CanonicalEvent> {
  const events = await ingest.accept([raw], requestContext(req));
  return events[0]!;
}

/** The JSON body as an object; `{}` when there is none (the seeds' parsers did the same). */
export function bodyObject(body: unknown): Record<string, unknown> | undefined {
  if (body === undefined || body === null) {
    return {};
  }
  return typeof body === 'object' && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : undefined;
}

export type Field = { state: 'absent' } | { state: 'invalid' } | { state: 'ok'; value: string };

/**
 * One field as the seeds read it: absent when undefined, null or '' (`!body.x` in the seeds),
 * a string, or invalid (a number, an object, a repeated query parameter…).
 */
export function field(obj: Record<string, unknown>, name: string): Field {
  const v = obj[name];
  if (v === undefined || v === null || v === '') {
    return { state: 'absent' };
  }
  return typeof v === 'string' ? { state: 'ok', value: v } : { state: 'invalid' };
}

/** The value of a present, valid field, else undefined (the caller has reported the error). */
export const valueOf = (f: Field): string | undefined => (f.state === 'ok' ? f.value : undefined);

export const MAX_TYPE = 64;

/** Canonical `impression` and `click` are ad events (they need an ad); a site's are not. */
const AD_TYPES = new Set(['impression', 'click']);

/**
 * The site seeds (001, 003, 004) took free-text event types ("Page View", "signup", "click");
 * the canonical type is `[a-z0-9_.:-]{1,64}`. Lower-cases and turns every other run of
 * characters into `_`, so "Page View" counts as `page_view`; a site's `click` or `impression`
 * becomes `site_click` / `site_impression`, since the canonical ones are ad events.
 * Undefined when nothing usable remains or it is too long.
 */
export function canonicalType(s: string): string | undefined {
  if (s.length > MAX_TYPE) {
    return undefined;
  }
  const t = s
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_.:-]+/g, '_');
  if (!/[a-z0-9]/.test(t)) {
    return undefined;
  }
  return AD_TYPES.has(t) ? `site_${t}` : t;
}

/** One cookie's value from a Cookie header; undefined when absent or not decodable. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) {
    return undefined;
  }
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      let v = part.slice(eq + 1).trim();
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) {
        v = v.slice(1, -1);
      }
      try {
        return decodeURIComponent(v);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
