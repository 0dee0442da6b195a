/**
 * The tracker script, the pixels and the signed click links over real HTTP against an
 * in-process `tally serve` (embedded log and database, AUTH=on). Nothing is mocked; counts are
 * read back from the report API.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminOf, call, fakeKey, type Admin, type CallOptions } from '../auth/auth-client.js';
import { startServer, today, waitFor, type TestServer } from '../helpers/server.js';
import { GIF } from '../../src/pixels/pixels.routes.js';
import { spawnTally } from '../harness/spawn.js';

const SITE = 'px-site';
const ORIGIN = 'https://px.example';
const NO_CACHE = {
  'cache-control': 'no-store, no-cache, must-revalidate, max-age=0',
  pragma: 'no-cache',
  expires: '0',
};

let server: TestServer;
let admin: Admin;
let adminKey: string;
const get = (path: string, opts: CallOptions = {}) => call(server.url, path, opts);

beforeAll(async () => {
  adminKey = fakeKey();
  server = await startServer({ AUTH: 'on', ADMIN_KEY: adminKey });
  admin = adminOf(server.url, adminKey, '127.0.0.1');
  await admin.addSite({ site_id: SITE, origins: [ORIGIN] });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

const stats = (site: string) => admin.stats(site, today());
async function ads(adId: string) {
  const r = await get(
    `/v1/ads/stats?from=${today()}&to=${today()}&interval=day&group_by=ad_id&ad_id=${adId}`,
    { key: adminKey },
  );
  expect(r.status, r.text).toBe(200);
  const row = r.json.rows[0] as { impressions: number; clicks: number } | undefined;
  return { impressions: row?.impressions ?? 0, clicks: row?.clicks ?? 0 };
}
async function signed(body: Record<string, unknown>): Promise<string> {
  const r = await get('/v1/links', { method: 'POST', body, key: adminKey });
  expect(r.status, r.text).toBe(201);
  expect(r.json.url).toBe(`${server.url}${r.json.path}`);
  return r.json.path as string;
}

describe('GET /t.js', () => {
  it('serves the tracker minified, at most 1.5 KB gzipped, cacheable and revalidated by ETag', async () => {
    const plain = await get('/t.js');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('application/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toMatch(/^public, max-age=86400\b/);
    expect(plain.text).toContain('sendBeacon');
    expect(plain.text).not.toMatch(/\/\*|\n {2}/); // minified: no comments, no indentation
    const gzipBytes = gzipSync(plain.text, { level: 9 }).length;
    console.info(`tracker: ${plain.text.length} bytes, ${gzipBytes} gzipped`);
    expect(gzipBytes).toBeLessThanOrEqual(1536);

    const zipped = await get('/t.js', { headers: { 'accept-encoding': 'gzip, br' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers['vary']).toBe('Accept-Encoding');
    expect(Number(zipped.headers['content-length'])).toBeLessThanOrEqual(1536);

    const etag = plain.headers['etag']!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect(zipped.headers['etag']).not.toBe(etag);
    const again = await get('/t.js', { headers: { 'if-none-match': etag } });
    expect([again.status, again.text]).toEqual([304, '']);
  });

  it('gunzips to the same script', async () => {
    const res = await fetch(`${server.url}/t.js`, { headers: { 'accept-encoding': 'identity' } });
    const text = await res.text();
    const raw = await new Promise<Buffer>((resolve, reject) => {
      import('node:http')
        .then(({ get: httpGet }) =>
          httpGet(`${server.url}/t.js`, { headers: { 'accept-encoding': 'gzip' } }, (r) => {
            const chunks: Buffer[] = [];
            r.on('data', (c: Buffer) => chunks.push(c));
            r.on('end', () => resolve(Buffer.concat(chunks)));
          }).on('error', reject),
        )
        .catch(reject);
    });
    expect(gunzipSync(raw).toString('utf8')).toBe(text);
  });
});

describe('GET /p.gif', () => {
  it('counts a page view and answers the 43-byte GIF, never cached', async () => {
    const r = await call(server.url, `/p.gif?site_id=${SITE}&path=/no-js&cb=123`, {
      headers: { referer: `${ORIGIN}/no-js?utm_source=mail` },
    });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('image/gif');
    expect(GIF.length).toBe(43);
    expect(r.text).toBe(GIF.toString('utf8'));
    expect(r.headers).toMatchObject(NO_CACHE);
    await waitFor(async () => (await stats(SITE)).total_views === 1);
    expect((await stats(SITE)).top_paths).toEqual([{ path: '/no-js', views: 1 }]);
  });

  it('counts an ad impression', async () => {
    const r = await get('/p.gif?type=impression&ad_id=px-ad-1&campaign_id=spring&creative_id=c1');
    expect(r.status).toBe(200);
    await waitFor(async () => (await ads('px-ad-1')).impressions === 1);
  });

  it('refuses bad parameters with 400 and the error body, counting nothing', async () => {
    const unknown = await get(`/p.gif?site_id=${SITE}&colour=red`);
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.code).toBe('INVALID_PARAMETER');
    const noAd = await get('/p.gif?type=impression');
    expect([noAd.status, noAd.json.error.code]).toEqual([400, 'INVALID_EVENT']);
    const twice = await get(`/p.gif?site_id=${SITE}&path=/a&path=/b`);
    expect(twice.status).toBe(400);
    // A HEAD (mail scanners, link checkers) is not a view.
    expect((await get(`/p.gif?site_id=${SITE}`, { method: 'HEAD' })).status).toBe(404);
  });

  it("applies the site's allowed origins to the page named by Referer", async () => {
    const before = await admin.drops();
    const r = await get(`/p.gif?site_id=${SITE}&path=/evil`, {
      headers: { referer: 'https://evil.example/page' },
    });
    expect([r.status, r.json.error.code]).toEqual([403, 'FORBIDDEN']);
    await waitFor(
      async () => ((await admin.drops()).origin_refused ?? 0) === (before.origin_refused ?? 0) + 1,
    );
    expect((await stats(SITE)).top_paths).toEqual([{ path: '/no-js', views: 1 }]);
  });
});

describe('signed click links', () => {
  it('POST /v1/links needs an admin key and an http(s) target', async () => {
    const body = { target: 'https://shop.example/spring', ad_id: 'px-ad-2' };
    expect((await get('/v1/links', { method: 'POST', body })).status).toBe(401);
    for (const bad of [
      { target: 'javascript:alert(1)', ad_id: 'a' },
      { target: '/relative', ad_id: 'a' },
      { target: 'https://x.example' }, // counts for nothing
      { target: 'https://x.example', ad_id: 'a', colour: 'red' },
    ]) {
      const r = await get('/v1/links', { method: 'POST', body: bad, key: adminKey });
      expect([r.status, r.json.error.code], JSON.stringify(bad)).toEqual([
        400,
        'INVALID_PARAMETER',
      ]);
    }
  });

  it('GET /c counts the click and redirects to the target, never cached', async () => {
    const target = 'https://shop.example/spring?utm_source=tally&x=a%26b';
    const path = await signed({ target, ad_id: 'px-ad-2', campaign_id: 'spring' });
    const r = await get(path, { headers: { referer: `${ORIGIN}/article` } });
    expect(r.status, r.text).toBe(302);
    expect(r.headers['location']).toBe(target);
    expect(r.headers).toMatchObject(NO_CACHE);
    await waitFor(async () => (await ads('px-ad-2')).clicks === 1);
  });

  it('counts a site link as link_click', async () => {
    const path = await signed({ target: 'https://partner.example/', site_id: SITE, path: '/news' });
    expect((await get(path)).status).toBe(302);
    await waitFor(async () => (await stats(SITE)).events_by_type.link_click === 1);
  });

  it('refuses unsigned and tampered links without redirecting', async () => {
    const path = await signed({ target: 'https://shop.example/a', ad_id: 'px-ad-3' });
    const q = new URLSearchParams(path.slice('/c?'.length));
    const variants: Record<string, URLSearchParams> = {};
    const change = (name: string, fn: (p: URLSearchParams) => void) => {
      const p = new URLSearchParams(q);
      fn(p);
      variants[name] = p;
    };
    change('target', (p) => p.set('target', 'https://evil.example/'));
    change('ad', (p) => p.set('ad_id', 'px-ad-4'));
    change('added field', (p) => p.set('campaign_id', 'x'));
    change('sig', (p) => p.set('sig', `${p.get('sig')!.slice(0, -2)}AA`));
    change('sig with a stray character', (p) => p.set('sig', `${p.get('sig')!}!`));
    for (const [name, p] of Object.entries(variants)) {
      const r = await get(`/c?${p}`);
      expect([r.status, r.headers['location']], name).toEqual([403, undefined]);
    }
    const unsigned = new URLSearchParams(q);
    unsigned.delete('sig');
    const r = await get(`/c?${unsigned}`);
    expect([r.status, r.headers['location']]).toEqual([400, undefined]);
    await new Promise((res) => setTimeout(res, 500));
    expect(await ads('px-ad-3')).toEqual({ impressions: 0, clicks: 0 });
  });

  it('tally links sign makes a link through the admin API', async () => {
    const cli = spawnTally(
      [
        'links',
        'sign',
        '--url',
        server.url,
        '--target',
        'https://shop.example/cli',
        '--ad-id',
        'px-ad-6',
        '--campaign',
        'spring',
      ],
      { env: { TALLY_ADMIN_KEY: adminKey, LOG_LEVEL: 'warn' } },
    );
    expect(await cli.exited, cli.output()).toBe(0);
    const url = cli.output().trim();
    expect(url.startsWith(`${server.url}/c?target=`)).toBe(true);
    const r = await get(url.slice(server.url.length));
    expect([r.status, r.headers['location']]).toEqual([302, 'https://shop.example/cli']);
    const refused = spawnTally(
      ['links', 'sign', '--url', server.url, '--target', 'ftp://x.example/', '--ad-id', 'a'],
      {
        env: { TALLY_ADMIN_KEY: adminKey, LOG_LEVEL: 'warn' },
      },
    );
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toContain('target must be an http or https URL');
  });

  it('keeps its links valid after a restart (the secret is in the database)', async () => {
    const path = await signed({ target: 'https://shop.example/b', ad_id: 'px-ad-5' });
    const dir = server.dataDir;
    await server.close({ keepData: true });
    server = await startServer({ AUTH: 'on', ADMIN_KEY: adminKey }, dir);
    admin = adminOf(server.url, adminKey, '127.0.0.1');
    const r = await get(path);
    expect([r.status, r.headers['location']]).toEqual([302, 'https://shop.example/b']);
  });
});

describe('the per-IP rate limit', () => {
  it('covers the pixel and the click link like POST /v1/events', async () => {
    const limited = await startServer({ RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        statuses.push((await call(limited.url, '/p.gif?site_id=rl&path=/')).status);
      }
      const click = await call(limited.url, '/c?target=https%3A%2F%2Fx.example%2F&ad_id=a&sig=x');
      expect([...statuses, click.status]).toEqual([200, 200, 429, 429]);
      expect(click.headers['retry-after']).toBeDefined();
    } finally {
      await limited.close();
    }
  });
});
