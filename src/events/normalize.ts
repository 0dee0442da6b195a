import { hash } from 'node:crypto';
import type { FieldError } from '../errors.js';
import { DAY_MS, dayOf, parseTimestamp } from './time.js';
import { uuidv7 } from './uuidv7.js';
import { LIMITS, STRING_FIELDS, TYPE_PATTERN, type CanonicalEvent } from './event.js';

/** What the edge knows about the request an event came in. */
export interface RequestContext {
  now: number;
  userAgent?: string | undefined;
  ip?: string | undefined;
  /** `Origin`, else the origin of `Referer`: the page the events come from (browsers). */
  origin?: string | undefined;
  /** The `Authorization` header, for an ingest key (server-side senders). */
  authorization?: string | undefined;
  /**
   * The country of `ip` (ISO 3166-1 alpha-2), looked up once per request by the ingest
   * (dimensions/country.ts); undefined when unknown or not looked up.
   */
  country?: string | undefined;
}

export interface NormalizeOptions {
  /** The oldest event time accepted (epoch ms): history of any age above it is counted. */
  minTsMs: number;
  maxFutureMs: number;
  /**
   * The secret mixed into the cookieless visitor hash of an event of UTC day `day` (days since
   * 1970-01-01): a random salt per day, deleted two days later (ingest/visitor-salts.ts).
   * Called once per hashed event, so it must answer from memory.
   */
  visitorSalt: (day: number) => string;
}

export type NormalizeResult =
  { ok: true; event: CanonicalEvent } | { ok: false; errors: FieldError[] };

const KNOWN = new Set<string>([
  'event_id',
  'type',
  'ts',
  'props',
  ...STRING_FIELDS.map((f) => f.name),
]);
const UA_MAX = 512;

// PostgreSQL text cannot hold NUL; refusing it here keeps a poison event out of the log. The
// other control characters are refused too: no identifier, path or URL holds one, and the
// aggregator joins keys with one. A lone surrogate would be stored as U+FFFD, so the id the
// database holds would not be the id the aggregator knows.
const hasNul = (s: string) => s.includes('\u0000');
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Either of the two above might be in the string: one scan of each field instead of two. */
const SUSPECT = /[\u0000-\u001f\u007f\ud800-\udfff]/;

function checkString(
  raw: Record<string, unknown>,
  field: string,
  max: number,
  errors: FieldError[],
  index: number,
): string | undefined {
  const v = raw[field];
  if (v === undefined || v === null) {
    return undefined;
  }
  if (typeof v !== 'string') {
    errors.push({ index, field, message: 'must be a string' });
    return undefined;
  }
  if (v.length === 0 || v.length > max) {
    errors.push({ index, field, message: `must be 1 to ${max} characters long` });
    return undefined;
  }
  if (!SUSPECT.test(v)) {
    return v;
  }
  if (CONTROL.test(v)) {
    errors.push({ index, field, message: 'must not contain control characters' });
    return undefined;
  }
  if (LONE_SURROGATE.test(v)) {
    errors.push({ index, field, message: 'must be well-formed Unicode (a lone surrogate)' });
    return undefined;
  }
  return v;
}

/** `path` from the given path, else from `url`; query string and fragment removed. */
function pathOf(path: string | undefined, url: string | undefined): string | undefined {
  let p = path;
  if (p === undefined && url !== undefined) {
    try {
      p = new URL(url, 'http://x').pathname;
    } catch {
      p = undefined;
    }
  }
  if (p === undefined) {
    return undefined;
  }
  const cut = p.search(/[?#]/);
  p = cut >= 0 ? p.slice(0, cut) : p;
  return p.length === 0 ? '/' : p;
}

function parseTs(
  v: unknown,
  ctx: RequestContext,
  opts: NormalizeOptions,
  index: number,
  errors: FieldError[],
) {
  if (v === undefined || v === null) {
    return ctx.now;
  }
  let ms: number | undefined;
  if (typeof v === 'number') {
    ms = Number.isInteger(v) ? v : undefined;
  } else if (typeof v === 'string') {
    ms = /^\d{1,16}$/.test(v) ? Number(v) : parseTimestamp(v);
  }
  if (ms === undefined) {
    errors.push({
      index,
      field: 'ts',
      message: 'must be an ISO-8601 timestamp with Z or an offset, or epoch milliseconds',
    });
    return ctx.now;
  }
  if (ms > ctx.now + opts.maxFutureMs) {
    errors.push({
      index,
      field: 'ts',
      message: `is more than ${opts.maxFutureMs} ms in the future`,
    });
  } else if (ms < opts.minTsMs) {
    errors.push({
      index,
      field: 'ts',
      message: `is before ${new Date(opts.minTsMs).toISOString()}, the oldest time accepted (MIN_EVENT_TS)`,
      reason: 'too_old',
    });
  }
  return ms;
}

function checkProps(v: unknown, index: number, errors: FieldError[]) {
  if (v === undefined || v === null) {
    return undefined;
  }
  if (typeof v !== 'object' || Array.isArray(v)) {
    errors.push({ index, field: 'props', message: 'must be a flat object' });
    return undefined;
  }
  const props = v as Record<string, unknown>;
  for (const [k, val] of Object.entries(props)) {
    const t = typeof val;
    if (val !== null && t !== 'string' && t !== 'number' && t !== 'boolean') {
      errors.push({
        index,
        field: `props.${k}`,
        message: 'must be a string, number, boolean or null',
      });
      return undefined;
    }
    if (k.length > LIMITS.propKey || hasNul(k) || (t === 'string' && hasNul(val as string))) {
      errors.push({
        index,
        field: `props.${k}`,
        message: 'has a key over 128 characters or a NUL',
      });
      return undefined;
    }
  }
  const size = Buffer.byteLength(JSON.stringify(props));
  if (size > LIMITS.propsBytes) {
    errors.push({
      index,
      field: 'props',
      message: `is ${size} bytes serialised; the maximum is ${LIMITS.propsBytes}`,
    });
    return undefined;
  }
  return props as CanonicalEvent['props'];
}

/** Cookieless daily visitor hash: the IP never leaves this function. */
export function visitorHash(
  salt: string,
  day: string,
  siteId: string,
  ip: string,
  ua: string,
): string {
  return hash('sha256', `${salt}|${day}|${siteId}|${ip}|${ua}`, 'base64url').slice(0, 22);
}

/** Validates one raw event and turns it into the canonical event, or lists every error. */
export function normalizeEvent(
  raw: unknown,
  index: number,
  ctx: RequestContext,
  opts: NormalizeOptions,
): NormalizeResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, errors: [{ index, field: '', message: 'must be an object' }] };
  }
  const r = raw as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const key of Object.keys(r)) {
    if (!KNOWN.has(key)) {
      errors.push({ index, field: key, message: 'is not a field of the canonical event' });
    }
  }
  const type = r.type;
  if (typeof type !== 'string' || !TYPE_PATTERN.test(type)) {
    errors.push({ index, field: 'type', message: 'is required: 1-64 characters of [a-z0-9_.:-]' });
  }
  const event: CanonicalEvent = { event_id: '', type: type as string, ts: 0, received_at: ctx.now };
  const eventId = checkString(r, 'event_id', LIMITS.eventId, errors, index);
  for (const { name, max } of STRING_FIELDS) {
    const v = checkString(r, name, max, errors, index);
    if (v !== undefined) {
      event[name] = v;
    }
  }
  event.ts = parseTs(r.ts, ctx, opts, index, errors);
  const props = checkProps(r.props, index, errors);
  if (type === 'page_view' && r.site_id === undefined) {
    errors.push({ index, field: 'site_id', message: 'is required for page_view' });
  }
  if (
    (type === 'impression' || type === 'click') &&
    r.ad_id === undefined &&
    r.ad_unit_id === undefined
  ) {
    errors.push({ index, field: 'ad_id', message: `an ${type} needs ad_id or ad_unit_id` });
  }
  if (errors.length > 0) {
    return { ok: false, errors };
  }
  event.event_id = eventId ?? uuidv7(ctx.now);
  const path = pathOf(event.path, event.url);
  if (path !== undefined) {
    event.path = path;
  }
  if (props !== undefined) {
    event.props = props;
  }
  if (ctx.userAgent) {
    event.ua = ctx.userAgent.slice(0, UA_MAX);
  }
  // Only a site's events are broken down by country: the ad rollups have no country.
  if (ctx.country !== undefined && event.site_id !== undefined) {
    event.country = ctx.country;
  }
  if (
    event.site_id !== undefined &&
    event.user_id === undefined &&
    event.visitor_id === undefined
  ) {
    event.vh = visitorHash(
      opts.visitorSalt(Math.floor(event.ts / DAY_MS)),
      dayOf(event.ts),
      event.site_id,
      ctx.ip ?? '',
      ctx.userAgent ?? '',
    );
  }
  return { ok: true, event };
}
