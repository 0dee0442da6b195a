import { canonicalType, field, MAX_TYPE } from '../compat/seed-input.js';

export const SEEDS = ['seed-000', 'seed-001', 'seed-002', 'seed-003', 'seed-004'] as const;
export type Seed = (typeof SEEDS)[number];

export type SeedMapping =
  { ok: true; event: Record<string, unknown> } | { ok: false; reason: string; message: string };

export interface SeedFieldOptions {
  /** Seed 002: campaign_id → account_id, as CAMPAIGN_ACCOUNTS_FILE gives it to the live route. */
  campaignAccounts?: Readonly<Record<string, string>> | undefined;
}

/**
 * How one seed's request fields map onto the canonical event, as its compat route maps them
 * (src/compat/seed-00N-…/routes.ts): which field holds the type and how it is read, which fields
 * are required, what each is called canonically. Unknown fields are ignored, as the seeds'
 * validators (and the compat routes) ignored them.
 */
interface SeedSpec {
  /** `ad`: exactly `impression` or `click`; `free`: free text through `canonicalType`. */
  type: { from: string; rule: 'ad' | 'free' };
  /** [seed field, canonical field, required]: string values, in the route's order. */
  fields: [string, string, boolean][];
  /** The event time: ISO-8601 or epoch milliseconds, kept as given (the canonical check reads it). */
  ts: { from: string; required: boolean };
}

const SPECS: Record<Seed, SeedSpec> = {
  // POST /events {event_id?, type, ad_id, campaign_id?, user_id?, ts?}: already canonical names.
  'seed-000': {
    type: { from: 'type', rule: 'ad' },
    fields: [
      ['ad_id', 'ad_id', true],
      ['event_id', 'event_id', false],
      ['campaign_id', 'campaign_id', false],
      ['user_id', 'user_id', false],
    ],
    ts: { from: 'ts', required: false },
  },
  // POST /api/ingestion/event {site_id, event_type, timestamp, path?, user_id?} (+ event_id).
  'seed-001': {
    type: { from: 'event_type', rule: 'free' },
    fields: [
      ['site_id', 'site_id', true],
      ['path', 'path', false],
      ['user_id', 'user_id', false],
      ['event_id', 'event_id', false],
    ],
    ts: { from: 'timestamp', required: true },
  },
  // /event/impression|click?ad_unit_id&campaign_id&creative_id&page_url[&timestamp]: the type is
  // the route's; in a file (and in the seed's `events` table) it is the `event_type` field.
  'seed-002': {
    type: { from: 'event_type', rule: 'ad' },
    fields: [
      ['ad_unit_id', 'ad_unit_id', true],
      ['campaign_id', 'campaign_id', true],
      ['creative_id', 'creative_id', true],
      ['page_url', 'url', true],
      ['account_id', 'account_id', false],
      ['event_id', 'event_id', false],
    ],
    ts: { from: 'timestamp', required: false },
  },
  // POST /api/event {siteId, eventType, path, timestamp, eventId?} + the visitor_id cookie
  // (`visitorId` in a file). `userId` is no HTTP field: its raw_events table kept a user_id.
  'seed-003': {
    type: { from: 'eventType', rule: 'free' },
    fields: [
      ['siteId', 'site_id', true],
      ['path', 'path', true],
      ['eventId', 'event_id', false],
      ['visitorId', 'visitor_id', false],
      ['userId', 'user_id', false],
    ],
    ts: { from: 'timestamp', required: true },
  },
  // POST /event {site_id, event_type, path, user_id?, timestamp?} (+ event_id).
  'seed-004': {
    type: { from: 'event_type', rule: 'free' },
    fields: [
      ['site_id', 'site_id', true],
      ['path', 'path', true],
      ['user_id', 'user_id', false],
      ['event_id', 'event_id', false],
    ],
    ts: { from: 'timestamp', required: false },
  },
};

interface Problem {
  reason: string;
  message: string;
}

function typeOf(spec: SeedSpec['type'], v: string): string | Problem {
  if (spec.rule === 'ad') {
    return v === 'impression' || v === 'click'
      ? v
      : { reason: `invalid ${spec.from}`, message: `${spec.from} must be "impression" or "click"` };
  }
  return (
    canonicalType(v) ?? {
      reason: `invalid ${spec.from}`,
      message: `${spec.from} must be at most ${MAX_TYPE} characters with a letter or digit`,
    }
  );
}

/**
 * One record in a seed's request field names (a line of NDJSON, a row of CSV, a row of the
 * seed's own table read under those names) as the canonical event its compat route would have
 * made of the same request. Values are strings (CSV cells, query parameters); the event time may
 * also be a number of epoch milliseconds. An empty value is an absent field, as in the routes.
 * What the canonical validator checks (lengths, characters, time bounds) is left to it.
 */
export function seedRecordToEvent(
  seed: Seed,
  record: Record<string, unknown>,
  opts: SeedFieldOptions = {},
): SeedMapping {
  const spec = SPECS[seed];
  const problems: Problem[] = [];
  const missing = (name: string) =>
    problems.push({ reason: `missing ${name}`, message: `${name} is required` });
  const notString = (name: string) =>
    problems.push({ reason: `invalid ${name}`, message: `${name} must be a string` });

  const event: Record<string, unknown> = {};
  const type = field(record, spec.type.from);
  if (type.state === 'absent') {
    missing(spec.type.from);
  } else if (type.state === 'invalid') {
    notString(spec.type.from);
  } else {
    const t = typeOf(spec.type, type.value);
    if (typeof t === 'string') {
      event.type = t;
    } else {
      problems.push(t);
    }
  }
  for (const [from, to, required] of spec.fields) {
    const f = field(record, from);
    if (f.state === 'ok') {
      event[to] = f.value;
    } else if (f.state === 'invalid') {
      notString(from);
    } else if (required) {
      missing(from);
    }
  }
  const ts = record[spec.ts.from];
  if (typeof ts === 'string' ? ts !== '' : typeof ts === 'number') {
    event.ts = ts;
  } else if (ts !== undefined && ts !== null && ts !== '') {
    problems.push({
      reason: `invalid ${spec.ts.from}`,
      message: `${spec.ts.from} must be an ISO-8601 string or epoch milliseconds`,
    });
  } else if (spec.ts.required) {
    missing(spec.ts.from);
  }

  const first = problems[0];
  if (first !== undefined) {
    return { ok: false, reason: first.reason, message: problems.map((p) => p.message).join('; ') };
  }
  // Seed 002: the campaign's account from the mapping first, as the live route does; else the
  // account the record carries (the seed's own lookup, kept in its events table).
  const accounts = seed === 'seed-002' ? opts.campaignAccounts : undefined;
  const campaign = event.campaign_id;
  if (accounts && typeof campaign === 'string' && Object.hasOwn(accounts, campaign)) {
    event.account_id = accounts[campaign];
  }
  return { ok: true, event };
}
