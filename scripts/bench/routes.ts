/**
 * The ingest routes the single-event phases can load (`--routes`): Tally's own `POST /v1/events`
 * and the seed services' routes that take one site event. Each sends the same page view as the
 * ledger's `/v1` body (the same event id, site, path and user), in its seed's shape, and knows
 * what its 202 says, so the ledger checks every acknowledgement and the site's total counts each
 * event exactly once. A request left unanswered is resent as its `/v1` body: the same event id
 * counts once whichever route carried it.
 *
 * Seeds 000 and 002 take ad events (no site, so no site total to count them by): not here yet.
 */
export interface PageView {
  eventId: string;
  site: string;
  path: string;
  url: string;
  referrer: string;
  user: string;
}

export interface IngestRoute {
  name: RouteName;
  method: 'POST';
  path: string;
  /** The request body of one page view. */
  body(e: PageView): string;
  /** Extra request headers of this event (seed 003's visitor cookie). */
  headers?(e: PageView): Record<string, string>;
  /** Events a 202 body says were accepted (NaN when it does not say). */
  accepted(reply: string): number;
}

export const ROUTE_NAMES = ['v1', 'seed-001', 'seed-003', 'seed-004'] as const;
export type RouteName = (typeof ROUTE_NAMES)[number];

/** `/v1`'s single event; also the body an unanswered request of any route is resent as. */
export const v1Body = (e: PageView): string =>
  `{"event_id":"${e.eventId}","type":"page_view","site_id":"${e.site}","path":"${e.path}","url":"${e.url}","referrer":"${e.referrer}","user_id":"${e.user}"}`;

/** The seeds' bodies carry a time; one string per second is enough (and costs the client little). */
let isoAt = 0;
let iso = '';
const nowIso = () => {
  const s = Math.floor(Date.now() / 1000);
  if (s !== isoAt) {
    isoAt = s;
    iso = new Date(s * 1000).toISOString();
  }
  return iso;
};

const one = (pattern: RegExp) => (reply: string) => (pattern.test(reply) ? 1 : NaN);

export const ROUTES: Record<RouteName, IngestRoute> = {
  v1: {
    name: 'v1',
    method: 'POST',
    path: '/v1/events',
    body: v1Body,
    accepted: (reply) => Number(/"accepted":(\d+)/.exec(reply)?.[1]),
  },
  // Seed 001 (Express + BullMQ): 202 `{ status: "queued" }`.
  'seed-001': {
    name: 'seed-001',
    method: 'POST',
    path: '/api/ingestion/event',
    body: (e) =>
      `{"site_id":"${e.site}","event_type":"page_view","timestamp":"${nowIso()}","path":"${e.path}","user_id":"${e.user}","event_id":"${e.eventId}"}`,
    accepted: one(/^\{"status":"queued"\}$/),
  },
  // Seed 003 (NestJS): camelCase, the visitor from its cookie, as a returning browser sends it.
  'seed-003': {
    name: 'seed-003',
    method: 'POST',
    path: '/api/event',
    body: (e) =>
      `{"siteId":"${e.site}","eventType":"page_view","path":"${e.path}","timestamp":"${nowIso()}","eventId":"${e.eventId}"}`,
    headers: (e) => ({ cookie: `visitor_id=${e.user}` }),
    accepted: one(/"success":true/),
  },
  // Seed 004 (Express + Redis): 202 `{ status: "queued", message }`.
  'seed-004': {
    name: 'seed-004',
    method: 'POST',
    path: '/event',
    body: (e) =>
      `{"site_id":"${e.site}","event_type":"page_view","path":"${e.path}","timestamp":"${nowIso()}","user_id":"${e.user}","event_id":"${e.eventId}"}`,
    accepted: one(/^\{"status":"queued"/),
  },
};
