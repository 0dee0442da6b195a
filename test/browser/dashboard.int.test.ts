/**
 * The dashboard at `/` in a real browser (Debian's Chromium through playwright-core) against an
 * in-process `tally serve` with AUTH=on and a known data set sent through `POST /v1/events`.
 * What the page shows is read from its text and compared with what the report API answers
 * for the same question, fetched here: the page must never disagree with the API.
 * It also fills a data directory with `npm run demo -- --days 30` and takes a 1280×900
 * screenshot of it: at a tenth of the demo's scale into a temporary file by default, and at full
 * scale into docs/dashboard.png (the README's) with SCREENSHOT=1, so CI never rewrites that file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { adminOf, fakeKey } from '../auth/auth-client.js';
import { spawnNode } from '../harness/spawn.js';
import { newDataDir, post, startServer, waitFor, type TestServer } from '../helpers/server.js';
import { launchChromium, requireChromium } from './browser.js';

const SITE = 'dash-site';
/** A site whose reports anyone may read. */
const PUBLIC_SITE = 'dash-public';
const DAY = 86_400_000;
const UA = {
  chrome:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  safari:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
};
/** Client addresses whose countries the bundled database knows (US, NL). */
const IP = { us: '8.8.8.8', nl: '193.0.6.139' };
const HOST = 'https://dash.example';

/** One visit: one request, from one visitor's browser and address. */
interface Visit {
  bot?: boolean;
  ua: string;
  ip: string;
  events: Record<string, unknown>[];
}

/** The known data set: views over a few days, sources, UTM tags, custom events, ads. */
function dataSet(now: number): Visit[] {
  const at = (daysAgo: number) => (daysAgo === 0 ? now - 60_000 : now - daysAgo * DAY);
  const pv = (visitor: string, daysAgo: number, path: string, extra = {}) => ({
    type: 'page_view',
    site_id: SITE,
    visitor_id: visitor,
    url: `${HOST}${path}`,
    ts: at(daysAgo),
    ...extra,
  });
  const google = { referrer: 'https://www.google.com/' };
  const ad = (type: string, n: number, campaign: string, creative: string) =>
    Array.from({ length: n }, () => ({
      type,
      ad_id: `ad-${campaign}`,
      campaign_id: campaign,
      creative_id: creative,
      ad_unit_id: 'unit-top',
      account_id: 'acct-1',
      ts: at(0),
    }));
  return [
    {
      ua: UA.chrome,
      ip: IP.us,
      events: [
        pv('v1', 0, '/?utm_source=newsletter&utm_medium=email&utm_campaign=winter'),
        pv('v1', 0, '/pricing', { referrer: `${HOST}/` }),
        { type: 'signup', site_id: SITE, visitor_id: 'v1', ts: at(0), props: { plan: 'pro' } },
      ],
    },
    {
      ua: UA.firefox,
      ip: IP.nl,
      events: [pv('v2', 0, '/', google), pv('v2', 0, '/blog/a', google)],
    },
    {
      ua: UA.safari,
      ip: IP.us,
      events: [pv('v3', 1, '/blog/a', { referrer: 'https://news.ycombinator.com/item?id=1' })],
    },
    {
      ua: UA.chrome,
      ip: IP.nl,
      events: [pv('v4', 2, '/', google), pv('v4', 2, '/pricing?utm_campaign=spring', google)],
    },
    {
      ua: UA.firefox,
      ip: IP.us,
      events: [
        pv('v5', 1, '/docs', { referrer: 'https://github.com/tally/tally' }),
        { type: 'download', site_id: SITE, visitor_id: 'v5', ts: at(1) },
        { type: 'signup', site_id: SITE, visitor_id: 'v5', ts: at(1) },
      ],
    },
    // A crawler: counted as the drop `bot`, in no report.
    {
      ua: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
      ip: IP.us,
      events: [pv('crawler', 0, '/')],
      bot: true,
    },
    // The previous period of "7 days": something to compare with.
    { ua: UA.chrome, ip: IP.us, events: [pv('v6', 9, '/'), pv('v7', 10, '/docs')] },
    {
      ua: UA.chrome,
      ip: IP.us,
      events: [
        ...ad('impression', 6, 'winter', 'cr-a'),
        ...ad('click', 2, 'winter', 'cr-a'),
        ...ad('impression', 3, 'spring', 'cr-b'),
        ...ad('click', 1, 'spring', 'cr-b'),
      ],
    },
  ];
}

const num = (n: number) => n.toLocaleString('en-US');
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const share = (x: number) => `${(100 * x).toFixed(1)} %`;
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const run = requireChromium();
let tally: TestServer;
let browser: Browser;
let readKey: string;
let adminKey: string;
const range = { from: '', to: '', prevFrom: '', prevTo: '' };

async function api(path: string, params: Record<string, string | number>): Promise<any> {
  const res = await fetch(`${tally.url}${path}?${new URLSearchParams(params as never)}`, {
    headers: { authorization: `Bearer ${readKey}` },
  });
  expect(res.status, path).toBe(200);
  return res.json();
}
const stats = (extra: Record<string, string> = {}) =>
  api('/v1/stats', { site_id: SITE, from: range.from, to: range.to, ...extra });
const breakdown = (dimension: string, extra: Record<string, string> = {}) =>
  api('/v1/stats/breakdown', {
    site_id: SITE,
    from: range.from,
    to: range.to,
    dimension,
    ...extra,
  });

/** The text of `selector` once it equals `expected` (or the last text seen, for the failure). */
async function textBecomes(p: Page, selector: string, expected: string): Promise<void> {
  await p
    .waitForFunction(
      ([s, t]) => document.querySelector(s)?.textContent?.trim() === t,
      [selector, expected] as const,
      { timeout: 15_000 },
    )
    .catch(() => undefined);
  expect((await p.textContent(selector))?.trim(), selector).toBe(expected);
}

/** The cells' text of each row of a table on the page. */
const rowsOf = (p: Page, id: string) =>
  p.$$eval(`#${id} tbody tr`, (trs) =>
    trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent.trim())),
  );

const pageErrors = new WeakMap<Page, string[]>();

/** Until every table has its answer (each shows as it comes). */
const loaded = (p: Page) =>
  p.waitForFunction(
    () => document.querySelector('#table-events') && !document.querySelector('.loading'),
  );

/** A page signed in with `key`, on the site and range given in the URL. */
async function signedIn(key: string, query: string, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const p = await context.newPage();
  // Script errors and CSP refusals; a refused request (the 401 before signing in) is expected.
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(e.message));
  p.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      errors.push(m.text());
    }
  });
  pageErrors.set(p, errors);
  await p.goto(`${tally.url}/?${query}`);
  await p.fill('#key', key);
  await p.click('#sign-in');
  await loaded(p);
  return p;
}

describe('the dashboard over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ AUTH: 'on' });
  });
  afterAll(() => server?.close());

  it('serves the page and its assets from Tally itself, typed, cached by hash, gzipped, with ETags', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    const assets = [...html.matchAll(/(?:src|href)="(\/dashboard\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.map((a) => a.split('?')[0]).sort()).toEqual([
      '/dashboard/app.css',
      '/dashboard/app.js',
      '/dashboard/uplot.min.css',
      '/dashboard/uplot.min.js',
    ]);
    let ownJs = 0;
    let allJs = 0;
    for (const a of assets) {
      const res = await fetch(`${server.url}${a}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(res.status, a).toBe(200);
      expect(res.headers.get('content-type'), a).toMatch(
        a.includes('.js') ? /^application\/javascript/ : /^text\/css/,
      );
      expect(res.headers.get('cache-control'), a).toBe('public, max-age=31536000, immutable');
      const etag = res.headers.get('etag')!;
      await res.arrayBuffer();
      const again = await fetch(`${server.url}${a}`, {
        headers: { 'accept-encoding': 'gzip', 'if-none-match': etag },
      });
      expect(again.status, a).toBe(304);
      if (a.includes('.js')) {
        // fetch decompresses; the server gzips at level 9 what it serves plain.
        const raw = Buffer.from(await (await fetch(`${server.url}${a}`)).arrayBuffer());
        const gz = gzipSync(raw, { level: 9 }).length;
        allJs += gz;
        ownJs += a.includes('app.js') ? gz : 0;
      }
    }
    // README, "Dashboard": the JavaScript stated there, gzipped.
    expect(ownJs).toBeLessThan(8 * 1024);
    expect(allJs).toBeLessThan(32 * 1024);
    const stale = await fetch(`${server.url}/dashboard/app.js?v=old`);
    expect(stale.headers.get('cache-control')).toBe('no-cache');
    expect((await fetch(`${server.url}/dashboard/nope.js`)).status).toBe(404);
  });
});

describe.runIf(run)('the dashboard in Chromium', () => {
  beforeAll(async () => {
    adminKey = fakeKey();
    tally = await startServer({ AUTH: 'on', ADMIN_KEY: adminKey, TRUSTED_PROXIES: '127.0.0.1' });
    const admin = adminOf(tally.url, adminKey, '127.0.0.1');
    await admin.addSite({ site_id: SITE });
    readKey = (await admin.addKey('read')).key;
    await admin.addSite({ site_id: PUBLIC_SITE, public_reports: true });
    const open = await post(`${tally.url}/v1/events`, {
      type: 'page_view',
      site_id: PUBLIC_SITE,
      path: '/shared',
    });
    expect(open.status).toBe(202);
    const now = Date.now();
    const today = Date.parse(`${iso(now)}T00:00:00Z`);
    Object.assign(range, {
      from: iso(today - 6 * DAY),
      to: iso(today),
      prevFrom: iso(today - 13 * DAY),
      prevTo: iso(today - 7 * DAY),
    });
    const visits = dataSet(now);
    for (const v of visits) {
      const res = await post(`${tally.url}/v1/events`, v.events, {
        'user-agent': v.ua,
        'x-forwarded-for': v.ip,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
    }
    const siteEvents = visits
      .filter((v) => !v.bot)
      .flatMap((v) => v.events)
      .filter((e) => e.site_id === SITE && (e.ts as number) >= today - 6 * DAY).length;
    await waitFor(async () => (await stats()).total_events === siteEvents, 20_000);
    await waitFor(async () => {
      const ads = await api('/v1/ads/stats', {
        from: range.to,
        to: range.to,
        interval: 'day',
        group_by: 'campaign_id',
      });
      return ads.rows.reduce((a: number, r: any) => a + r.impressions + r.clicks, 0) === 12;
    }, 20_000);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await tally?.close();
  });

  it('shows, once signed in with a read key, exactly the figures the API returns', async () => {
    const p = await signedIn(readKey, `site=${SITE}&range=7d`);
    const [s, prev] = await Promise.all([
      stats(),
      api('/v1/stats', { site_id: SITE, from: range.prevFrom, to: range.prevTo }),
    ]);
    expect(s.total_views).toBeGreaterThan(0);
    await textBecomes(p, '#kpi-visitors .value', num(s.unique_users));
    await textBecomes(p, '#kpi-views .value', num(s.total_views));
    await textBecomes(p, '#kpi-events .value', num(s.total_events));
    const change = Math.round(((s.total_views - prev.total_views) / prev.total_views) * 100);
    await textBecomes(p, '#kpi-views .change', `+${change} %`);

    const pages = await breakdown('path');
    expect(await rowsOf(p, 'table-path')).toEqual(
      pages.rows.map((r: any) => [r.value, num(r.views), share(r.share)]),
    );
    const sources = await breakdown('source');
    expect(sources.rows.map((r: any) => r.value)).toContain('Google');
    expect(await rowsOf(p, 'table-source')).toEqual(
      sources.rows.map((r: any) => [r.value, num(r.visitors), num(r.views), share(r.share)]),
    );
    const row = (rows: any[], value: string) => {
      const r = rows.find((x) => x.value === value);
      expect(r, value).toBeDefined();
      return [r.value, num(r.visitors), num(r.views), share(r.share)];
    };
    const countries = await breakdown('country');
    expect(await rowsOf(p, 'table-country')).toContainEqual(row(countries.rows, 'NL'));
    const browsers = await breakdown('browser');
    expect(await rowsOf(p, 'table-browser')).toContainEqual(row(browsers.rows, 'Firefox'));
    const campaigns = await breakdown('utm_campaign');
    expect(await rowsOf(p, 'table-utm_campaign')).toContainEqual(row(campaigns.rows, 'winter'));
    expect(await rowsOf(p, 'table-events')).toContainEqual([
      'signup',
      num(s.events_by_type.signup),
      share(s.events_by_type.signup / s.total_events),
    ]);

    // Ads: the CTR of the range and of each campaign, as /v1/ads/stats gives them.
    const ads = await api('/v1/ads/stats', {
      from: range.from,
      to: range.to,
      interval: 'day',
      group_by: 'campaign_id',
    });
    const impressions = ads.rows.reduce((a: number, r: any) => a + r.impressions, 0);
    const clicks = ads.rows.reduce((a: number, r: any) => a + r.clicks, 0);
    await textBecomes(p, '#kpi-impressions .value', num(impressions));
    await textBecomes(p, '#kpi-ctr .value', pct(clicks / impressions));
    const winter = ads.rows.find((r: any) => r.group === 'winter');
    expect(await rowsOf(p, 'ads-campaign_id')).toContainEqual([
      'winter',
      num(winter.impressions),
      num(winter.clicks),
      pct(winter.ctr),
      share(winter.impressions / impressions),
    ]);
    // Realtime: today's visitors of the last minutes, as /v1/realtime counts them.
    const rt = await api('/v1/realtime', { site_id: SITE });
    await textBecomes(p, '#kpi-realtime .value', num(rt.visitors));
    // A read key sees no pipeline.
    expect(await p.isVisible('#pipeline')).toBe(false);
    expect(pageErrors.get(p)).toEqual([]);
    await p.context().close();
  });

  it('filters the page by a clicked source, shows it as a chip, and the chip removes it', async () => {
    const p = await signedIn(readKey, `site=${SITE}&range=7d`);
    const [all, google] = await Promise.all([stats(), stats({ filter: 'source:Google' })]);
    expect(google.unique_users).not.toBe(all.unique_users);
    await textBecomes(p, '#kpi-visitors .value', num(all.unique_users));
    await p.locator('#table-source').getByRole('button', { name: 'Google', exact: true }).click();
    await textBecomes(p, '#filter-chip', 'source: Google ×');
    await textBecomes(p, '#kpi-visitors .value', num(google.unique_users));
    await textBecomes(p, '#kpi-views .value', num(google.total_views));
    expect(new URL(p.url()).searchParams.get('filter')).toBe('source:Google');
    // The tables follow the filter: Google's visitors per browser, as the filtered API has them.
    const browsers = await breakdown('browser', { filter: 'source:Google', limit: '10' });
    expect(browsers.rows.length).toBeGreaterThan(0);
    const want = browsers.rows.map((r: { value: string; visitors: number; share: number }) => [
      r.value,
      num(r.visitors),
      share(r.share),
    ]);
    await p.waitForFunction(
      (n) => document.querySelectorAll('#table-browser tbody tr').length === n,
      want.length,
    );
    await p.waitForFunction(
      () => document.querySelector('#table-browser thead tr')?.children.length === 3,
    );
    expect(await rowsOf(p, 'table-browser')).toEqual(want);
    await p.click('#filter-chip');
    await textBecomes(p, '#kpi-visitors .value', num(all.unique_users));
    expect(await p.$('#filter-chip')).toBeNull();
    expect(new URL(p.url()).searchParams.get('filter')).toBeNull();
    await p.context().close();
  });

  it('shows an admin the site picker and the pipeline: backlog, drops per reason, dead letters', async () => {
    const admin = adminOf(tally.url, adminKey, '127.0.0.1');
    await waitFor(async () => ((await admin.drops()).bot ?? 0) >= 1, 10_000);
    const p = await signedIn(adminKey, `site=${SITE}&range=7d`);
    expect(await p.$$eval('#site-select option', (o) => o.map((x) => x.textContent))).toEqual([
      PUBLIC_SITE,
      SITE,
    ]);
    expect(await p.inputValue('#site-select')).toBe(SITE);
    await p.waitForSelector('#drops');
    const drops = await (
      await fetch(`${tally.url}/v1/drops?from=${range.from}&to=${range.to}`, {
        headers: { authorization: `Bearer ${adminKey}` },
      })
    ).json();
    expect(drops.drops.bot).toBe(1);
    expect(await rowsOf(p, 'drops')).toContainEqual(['bot', '1', share(1 / drops.total)]);
    await textBecomes(p, '#kpi-backlog .value', '0');
    await textBecomes(p, '#kpi-dead .value', '0');
    await p.context().close();
  });

  it('refuses a wrong key with a clear message, and a private site without one', async () => {
    const context = await browser.newContext();
    const p = await context.newPage();
    await p.goto(`${tally.url}/?site=${SITE}`);
    await textBecomes(
      p,
      '#signin-error',
      `The reports of ${SITE} are not public: sign in with an API key.`,
    );
    await p.fill('#key', fakeKey());
    await p.click('#sign-in');
    await textBecomes(p, '#signin-error', 'Sign-in refused: this API key is not valid');
    expect(await p.isVisible('#dash')).toBe(false);
    expect(await p.evaluate(() => sessionStorage.getItem('tally.key'))).toBeNull();
    await context.close();
  });

  it('opens a public site without a key', async () => {
    const context = await browser.newContext();
    const p = await context.newPage();
    await p.goto(`${tally.url}/?site=${PUBLIC_SITE}&range=today`);
    await loaded(p);
    await textBecomes(p, '#kpi-views .value', '1');
    expect(await rowsOf(p, 'table-path')).toEqual([['/shared', '1', '100.0 %']]);
    expect(await p.isVisible('#signin')).toBe(false);
    await context.close();
  });

  it('fits a phone-sized screen (375×800) without horizontal scrolling', async () => {
    const p = await signedIn(readKey, `site=${SITE}&range=30d`, { width: 375, height: 800 });
    await p.waitForSelector('#kpi-ctr');
    const widths = await p.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.client);
    await p.context().close();
  });
});

describe.runIf(run)('the screenshot in the README', () => {
  it('shows the demo data; with SCREENSHOT=1 it writes docs/dashboard.png', async () => {
    const readme = process.env.SCREENSHOT === '1';
    const file = readme ? 'docs/dashboard.png' : join(newDataDir(), 'dashboard.png');
    const dataDir = newDataDir();
    const demo = spawnNode(
      'demo',
      'scripts/demo.ts',
      ['--days', '30', '--scale', process.env.DEMO_SCALE ?? (readme ? '1' : '0.1'), '--json'],
      {
        env: { DATA_DIR: dataDir },
      },
    );
    expect(await demo.exited, demo.output()).toBe(0);
    const server = await startServer({ AUTH: 'on' }, dataDir);
    const shot = await launchChromium();
    try {
      const key = readFileSync(`${dataDir}/admin.key`, 'utf8').trim();
      const p = await shot.newPage({ viewport: { width: 1280, height: 900 } });
      await p.goto(`${server.url}/?site=blog&range=30d`);
      await p.fill('#key', key);
      await p.click('#sign-in');
      await loaded(p);
      await p.waitForSelector('#kpi-ctr');
      // The ingest rate needs two readings of /metrics, a couple of seconds apart.
      await p.waitForFunction(() =>
        /\/s$/.test(document.querySelector('#kpi-rate .value')?.textContent ?? ''),
      );
      await p.screenshot({ path: file });
      // A PNG of the size asked for, of a page that loaded without an error.
      const png = readFileSync(file);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 900]);
      expect(await p.textContent('#error').catch(() => '')).toBeFalsy();
    } finally {
      await shot.close();
      await server.close();
    }
  }, 600_000);
});
