/**
 * Allowed origins, ingest keys and CORS at the edge, over real HTTP against `tally serve` child
 * processes (embedded log and database, AUTH=on). Nothing is mocked. Refusals are checked in the
 * response and in the drop ledger (flushed about every second, so polled).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, type Child } from '../helpers/child.js';
import { newDataDir } from '../helpers/server.js';
import {
  addresses,
  adminOf,
  call,
  expect401,
  expectDrops,
  fakeKey,
  type Admin,
  type CallOptions,
} from './auth-client.js';

const children: Child[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const c of children) {
    c.proc.kill('SIGKILL');
  }
  for (const d of dirs) {
    rmSync(d, { recursive: true, force: true });
  }
});

const address = addresses(2);

async function start(env: Record<string, string>) {
  const dataDir = newDataDir();
  dirs.push(dataDir);
  const adminKey = fakeKey();
  const s = await startChild({
    AUTH: 'on',
    ADMIN_KEY: adminKey,
    DATA_DIR: dataDir,
    TRUSTED_PROXIES: '127.0.0.1',
    ...env,
  });
  children.push(s);
  return { s, admin: adminOf(s.url, adminKey, '10.202.0.1'), adminKey };
}

const pageView = (site: string) => ({ type: 'page_view', site_id: site, path: '/' });
/** OPTIONS as a browser sends it before a cross-origin JSON POST. */
const preflight = (base: string, path: string, origin: string) =>
  call(base, path, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  });

describe('UNREGISTERED_SITES=accept (the default)', () => {
  const SITE = 'orig-a';
  const KEYED = 'orig-k';
  let base: string;
  let admin: Admin;
  let adminKey: string;
  const ingestKeys = { keyed: '', other: '' };
  const send = (body: unknown, opts: CallOptions = {}) =>
    call(base, '/v1/events', { method: 'POST', body, from: address(), ...opts });
  const fromOrigin = (origin: string, site = SITE) => send(pageView(site), { headers: { origin } });
  const refusedBody = (site: string) => {
    const message = `this origin may not send events for site "${site}"`;
    return {
      error: { code: 'FORBIDDEN', message, details: [{ index: 0, field: 'site_id', message }] },
    };
  };

  beforeAll(async () => {
    ({
      s: { url: base },
      admin,
      adminKey,
    } = await start({
      CORS_MAX_AGE_S: '600',
      ALLOWED_ORIGINS: 'https://pixels.example',
    }));
    const site = await admin.addSite({
      site_id: SITE,
      origins: ['https://a.example', '*.b.example', 'c.example'],
    });
    expect(site.origins).toEqual(['https://a.example', '*.b.example', 'c.example']);
    await admin.addSite({ site_id: KEYED, ingest_key_required: true });
    ingestKeys.keyed = (await admin.addKey('ingest', [KEYED])).key;
    ingestKeys.other = (await admin.addKey('ingest', [SITE])).key;
  }, 120_000);

  it("takes a registered site's events only from its origins", async () => {
    const before = await admin.drops();
    for (const origin of ['https://a.example', 'https://x.b.example', 'http://c.example']) {
      const r = await fromOrigin(origin);
      expect([r.status, r.json?.accepted], origin).toEqual([202, 1]);
    }
    for (const origin of [
      'https://evil.example',
      'https://b.example', // a wildcard is for subdomains only
      'null',
      'https://a.example.evil.com',
      'http://a.example', // an exact origin names its scheme
    ]) {
      const r = await fromOrigin(origin);
      expect([r.status, r.json], origin).toEqual([403, refusedBody(SITE)]);
    }
    await expectDrops(admin, before, { origin_refused: 5 });
  });

  it('reads the origin of Referer when there is no Origin (pixels, links)', async () => {
    const before = await admin.drops();
    const ok = await send(pageView(SITE), { headers: { referer: 'https://a.example/page?x=1' } });
    expect([ok.status, ok.json.accepted]).toEqual([202, 1]);
    const evil = await send(pageView(SITE), { headers: { referer: 'https://evil.example/page' } });
    expect([evil.status, evil.json]).toEqual([403, refusedBody(SITE)]);
    // Origin wins over Referer.
    const both = await send(pageView(SITE), {
      headers: { origin: 'https://evil.example', referer: 'https://a.example/page' },
    });
    expect(both.status).toBe(403);
    await expectDrops(admin, before, { origin_refused: 2 });
  });

  it("seed 002's pixels carry no site id: the registry's origins do not apply to them", async () => {
    const q = 'ad_unit_id=u1&campaign_id=c1&creative_id=cr1&page_url=https://evil.example/p';
    for (const method of ['GET', 'POST']) {
      const r = await call(base, `/event/impression?${q}`, {
        method,
        from: address(),
        headers: { referer: 'https://evil.example/p' },
      });
      expect([r.status, r.text], method).toEqual([204, '']);
    }
  });

  it('refuses a seed ingest route the same way, in the seed error shape', async () => {
    const before = await admin.drops();
    const event = { site_id: SITE, event_type: 'page_view', timestamp: new Date().toISOString() };
    const ok = await call(base, '/api/ingestion/event', {
      method: 'POST',
      body: event,
      from: address(),
      headers: { origin: 'https://x.b.example' },
    });
    expect([ok.status, ok.json]).toEqual([202, { status: 'queued' }]);
    const evil = await call(base, '/api/ingestion/event', {
      method: 'POST',
      body: event,
      from: address(),
      headers: { origin: 'https://evil.example' },
    });
    expect([evil.status, evil.json]).toEqual([
      403,
      {
        status: 'fail',
        errors: [
          {
            path: 'body.site_id',
            message: `site_id this origin may not send events for site "${SITE}"`,
          },
        ],
      },
    ]);
    await expectDrops(admin, before, { origin_refused: 1 });
  });

  it('takes server-side events (no Origin, no Referer) unless the site requires an ingest key', async () => {
    const before = await admin.drops();
    const open = await send(pageView(SITE));
    expect([open.status, open.json.accepted]).toEqual([202, 1]);
    const none = await send(pageView(KEYED));
    expect401(none, 'no key');
    expect(none.json).toEqual({
      error: {
        code: 'UNAUTHORIZED',
        message: `site "${KEYED}" takes server-side events only with an ingest key (Authorization: Bearer <key>)`,
      },
    });
    const keyed = await send(pageView(KEYED), { key: ingestKeys.keyed });
    expect([keyed.status, keyed.json.accepted]).toEqual([202, 1]);
    const asAdmin = await send(pageView(KEYED), { key: adminKey });
    expect([asAdmin.status, asAdmin.json.accepted]).toEqual([202, 1]);
    const otherSite = await send(pageView(KEYED), { key: ingestKeys.other });
    expect401(otherSite, 'an ingest key for another site');
    expect(otherSite.json.error.message).toBe(none.json.error.message);
    await expectDrops(admin, before, { ingest_key_required: 2 });
  });

  it("admits a site's events from any origin with a valid ingest key for it", async () => {
    const before = await admin.drops();
    const r = await send(pageView(SITE), {
      key: ingestKeys.other,
      headers: { origin: 'https://evil.example' },
    });
    expect([r.status, r.json.accepted]).toEqual([202, 1]);
    const wrong = await send(pageView(SITE), {
      key: ingestKeys.keyed,
      headers: { origin: 'https://evil.example' },
    });
    expect([wrong.status, wrong.json]).toEqual([403, refusedBody(SITE)]);
    await expectDrops(admin, before, { origin_refused: 1 });
  });

  it('refuses a bad key presented on ingest (401) and counts it as ingest_key_invalid', async () => {
    const before = await admin.drops();
    const r = await send([pageView('orig-unregistered'), pageView('orig-unregistered')], {
      key: fakeKey(),
    });
    expect401(r, 'bad ingest key');
    expect(r.json.error).toEqual({ code: 'UNAUTHORIZED', message: 'this API key is not valid' });
    await expectDrops(admin, before, { ingest_key_invalid: 2 });
  });

  it('refuses the whole request, counting its other events as refused_with_batch', async () => {
    const before = await admin.drops();
    const r = await send([pageView('orig-unregistered'), pageView(SITE), pageView('orig-other')], {
      headers: { origin: 'https://evil.example' },
    });
    const message = `this origin may not send events for site "${SITE}"`;
    expect([r.status, r.json]).toEqual([
      403,
      { error: { code: 'FORBIDDEN', message, details: [{ index: 1, field: 'site_id', message }] } },
    ]);
    await expectDrops(admin, before, { origin_refused: 1, refused_with_batch: 2 });
    // Unregistered sites are taken from anywhere.
    const alone = await send(pageView('orig-unregistered'), {
      headers: { origin: 'https://evil.example' },
    });
    expect([alone.status, alone.json.accepted]).toEqual([202, 1]);
  });

  it('an empty Origin header is no origin: never a 5xx, on any route', async () => {
    const sites = await call(base, '/v1/sites', {
      key: adminKey,
      from: address(),
      headers: { origin: '' },
    });
    expect(sites.status, sites.text).toBe(200);
    const open = await send(pageView('orig-unregistered'), { headers: { origin: '' } });
    expect([open.status, open.json?.accepted], open.text).toEqual([202, 1]);
  });

  it('fuzzed Origin and Referer values get 202 or 403, never a 5xx', async () => {
    const junk = (n: number) =>
      Array.from(randomBytes(n), (b) => String.fromCharCode(32 + (b % 95))).join('');
    // An empty (or all-blank) Origin is the test above.
    const values = [
      'null',
      'NULL',
      'https://',
      '://',
      'https://a.example:99999',
      'https://A.EXAMPLE',
      `https://${'a.'.repeat(2000)}example`,
      Buffer.from('https://é.b.example', 'utf8').toString('latin1'),
      ...Array.from({ length: 40 }, (_, i) => junk(1 + i * 50)),
      ...Array.from({ length: 20 }, () => `https://${junk(12)}.b.example`),
    ];
    const statuses: Record<string, number> = {};
    const bad: string[] = [];
    for (const value of values) {
      for (const header of ['origin', 'referer']) {
        const r = await send(pageView(SITE), { headers: { [header]: value } });
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status !== 202 && r.status !== 403) {
          bad.push(`${header}: ${JSON.stringify(value.slice(0, 40))} → ${r.status}`);
        }
      }
    }
    expect(bad).toEqual([]);
    expect(Object.keys(statuses).sort()).toEqual(['202', '403']);
  });

  it('answers a preflight with the origin and CORS_MAX_AGE_S', async () => {
    for (const origin of ['https://a.example', 'https://anyone.example']) {
      const r = await preflight(base, '/v1/events', origin);
      expect(r.status, origin).toBe(204);
      expect(r.headers['access-control-allow-origin'], origin).toBe(origin);
      expect(r.headers['access-control-max-age'], origin).toBe('600');
      expect(r.headers['access-control-allow-methods']).toBe('GET, HEAD, POST');
      expect(r.headers['access-control-allow-headers']).toBe('content-type, authorization');
    }
  });

  it("uses ALLOWED_ORIGINS on seed 002's pixel paths", async () => {
    const allowed = await preflight(base, '/event/impression', 'https://pixels.example');
    expect([allowed.status, allowed.headers['access-control-allow-origin']]).toEqual([
      204,
      'https://pixels.example',
    ]);
    expect(allowed.headers['access-control-max-age']).toBe('600');
    // Listed by a registered site (and any origin may send to unregistered ones), but not here.
    const other = await preflight(base, '/event/click', 'https://a.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers['access-control-max-age']).toBeUndefined();
    const q = 'ad_unit_id=u1&campaign_id=c1&creative_id=cr1&page_url=https://pixels.example/p';
    const pixel = await call(base, `/event/impression?${q}`, {
      from: address(),
      headers: { origin: 'https://pixels.example' },
    });
    expect([pixel.status, pixel.headers['access-control-allow-origin']]).toEqual([
      204,
      'https://pixels.example',
    ]);
    const elsewhere = await call(base, `/event/impression?${q}`, {
      from: address(),
      headers: { origin: 'https://a.example' },
    });
    expect([elsewhere.status, elsewhere.headers['access-control-allow-origin']]).toEqual([
      204,
      undefined,
    ]);
  });
});

describe('UNREGISTERED_SITES=refuse', () => {
  let base: string;
  let admin: Admin;
  beforeAll(async () => {
    ({
      s: { url: base },
      admin,
    } = await start({ UNREGISTERED_SITES: 'refuse' }));
    await admin.addSite({ site_id: 'ref-a', origins: ['https://listed.example'] });
  }, 120_000);

  it('allows a preflight only from an origin some site lists', async () => {
    const listed = await preflight(base, '/v1/events', 'https://listed.example');
    expect([listed.status, listed.headers['access-control-allow-origin']]).toEqual([
      204,
      'https://listed.example',
    ]);
    expect(listed.headers['access-control-max-age']).toBe('7200');
    const nobody = await preflight(base, '/v1/events', 'https://nobody.example');
    expect(nobody.status).toBe(404);
    expect(nobody.headers['access-control-allow-origin']).toBeUndefined();
    expect(nobody.headers['access-control-max-age']).toBeUndefined();
    // A site listing no origins takes events from anywhere: then any origin may preflight.
    await admin.addSite({ site_id: 'ref-any' });
    const any = await preflight(base, '/v1/events', 'https://nobody.example');
    expect([any.status, any.headers['access-control-allow-origin']]).toEqual([
      204,
      'https://nobody.example',
    ]);
  });

  it('refuses an event for an unregistered site: 403 unregistered_site', async () => {
    const before = await admin.drops();
    const r = await call(base, '/v1/events', {
      method: 'POST',
      from: address(),
      body: pageView('ref-nope'),
    });
    const message = 'site "ref-nope" is not registered';
    expect([r.status, r.json]).toEqual([
      403,
      { error: { code: 'FORBIDDEN', message, details: [{ index: 0, field: 'site_id', message }] } },
    ]);
    await expectDrops(admin, before, { unregistered_site: 1 });
    const ok = await call(base, '/v1/events', {
      method: 'POST',
      from: address(),
      body: pageView('ref-a'),
      headers: { origin: 'https://listed.example' },
    });
    expect([ok.status, ok.json.accepted]).toEqual([202, 1]);
  });
});
