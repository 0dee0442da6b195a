/**
 * The client side of the log fault tests (redis-faults, kafka-faults): batches of known ids,
 * a POST that reports a dropped connection as status 0, and the recount of what a site shows.
 */
import { expect } from 'vitest';
import { sleep, waitFor } from '../harness/ready.js';
import { today } from '../helpers/server.js';

/** `n` page views of `site`, ids `<site>-<tag>-<i>`: resending the same batch counts it once. */
export const events = (site: string, tag: string, n: number) =>
  JSON.stringify(
    Array.from({ length: n }, (_, i) => ({
      event_id: `${site}-${tag}-${i}`,
      type: 'page_view',
      site_id: site,
      path: `/${tag}`,
      user_id: `u${i}`,
    })),
  );

/** The status of a POST of `body` to /v1/events; 0 when the connection failed. */
export async function post(url: string, body: string): Promise<number> {
  try {
    const r = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0;
  }
}

export async function views(url: string, site: string): Promise<number> {
  const r = await fetch(`${url}/v1/stats?site_id=${site}&date=${today()}&top=1000`);
  return ((await r.json()) as { total_views: number }).total_views;
}

/** Waits until the site counts `expected`, then a little longer, so that a double count shows. */
export async function countsExactly(
  url: string,
  site: string,
  expected: number,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(async () => (await views(url, site)) >= expected, timeoutMs, { intervalMs: 100 });
  await sleep(1500);
  expect(await views(url, site)).toBe(expected);
}

export async function drops(url: string): Promise<Record<string, number>> {
  return ((await (await fetch(`${url}/v1/drops`)).json()) as { drops: Record<string, number> })
    .drops;
}
