import { LIMITS, STRING_FIELDS, TYPE_PATTERN, type CanonicalEvent } from '../events/event.js';

const optional = (v: unknown, max: number) =>
  v === undefined ||
  (typeof v === 'string' && v.length > 0 && v.length <= max && !v.includes('\u0000'));

/**
 * Re-checks an event read from the log before it reaches storage: the log may hold records
 * written by another version or another producer. Returns the reason it cannot be stored.
 */
export function unstorableReason(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) {
    return 'not an object';
  }
  const ev = e as CanonicalEvent;
  if (typeof ev.event_id !== 'string' || !optional(ev.event_id, LIMITS.eventId)) {
    return 'bad event_id';
  }
  if (typeof ev.type !== 'string' || !TYPE_PATTERN.test(ev.type)) {
    return 'bad type';
  }
  if (!Number.isSafeInteger(ev.ts) || Math.abs(ev.ts) > 8.64e15) {
    return 'bad ts';
  }
  for (const { name, max } of STRING_FIELDS) {
    if (!optional(ev[name], max)) {
      return `bad ${name}`;
    }
  }
  return undefined;
}
