/**
 * What the per-site limit needs from a `POST /v1/events` body (one event, an array, or
 * `{ events: [...] }`), read leniently: validation comes later and rejects what is malformed.
 */
function eventsOf(body: unknown): unknown[] {
  if (Array.isArray(body)) {
    return body;
  }
  if (typeof body === 'object' && body !== null) {
    // Same rule as the ingest route: `{ events: [...] }` with no other field is the wrapper.
    const events = (body as { events?: unknown }).events;
    return Array.isArray(events) && Object.keys(body).length === 1 ? events : [body];
  }
  return [];
}

/** Distinct string `site_id`s of the events in the body. */
export function siteIdsOf(body: unknown): Set<string> {
  const sites = new Set<string>();
  for (const e of eventsOf(body)) {
    const site =
      typeof e === 'object' && e !== null ? (e as { site_id?: unknown }).site_id : undefined;
    if (typeof site === 'string' && site !== '') {
      sites.add(site);
    }
  }
  return sites;
}

export function eventCount(body: unknown): number {
  return eventsOf(body).length;
}
