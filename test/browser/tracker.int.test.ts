/**
 * The tracker, the pixel and the signed click link in a real browser (Debian's Chromium through
 * playwright-core) against an in-process `tally serve` with AUTH=on. The test pages are served
 * from other origins (other ports of 127.0.0.1); one of them is a site's allowed origin, one is
 * not. Every figure is read back from the report API, and must be exact: each view, navigation
 * and event counted once.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { adminOf, fakeKey, type Admin } from '../auth/auth-client.js';
import { sleep } from '../harness/ready.js';
import { startServer, today, waitFor, type TestServer } from '../helpers/server.js';
import { launchChromium, requireChromium, servePages, type PageServer } from './browser.js';

const SITE = 'br-site';
const PIXEL_SITE = 'br-pixel';
const AD = 'br-ad';

const run = requireChromium();
let tally: TestServer;
let admin: Admin;
let adminKey: string;
let browser: Browser;
/** The site's allowed origin, and one that is not. */
let allowed: PageServer;
let refused: PageServer;
const links = { good: '', tampered: '' };

const OPTIONS_SITE = 'br-options';
const trackerTag = (extra = '', site = SITE) =>
  `<script defer src="${tally.url}/t.js" data-site="${site}" ${extra}></script>`;
const page = (body: string) => `<!doctype html><html><head><meta charset="utf-8">
<title>test</title></head><body>${body}</body></html>`;

function allowedPages(path: string): string | undefined {
  if (path.startsWith('/app/')) {
    return page(`<h1>app</h1><a id="out" href="${refused.origin}/landing">partner</a>
${trackerTag('data-outbound-links')}`);
  }
  switch (path) {
    case '/unload':
      return page(`<h1>unload</h1><a id="away" href="/target">away</a>
<script>addEventListener('pagehide', function () { tally.track('leave'); });</script>
${trackerTag()}`);
    case '/opt-out':
      return page(`<script>window.tallyOptOut = true;</script>${trackerTag('', OPTIONS_SITE)}`);
    case '/options':
      return page(`<a id="dl" href="/files/report.pdf">report</a>
${trackerTag('data-replace-state data-file-downloads', OPTIONS_SITE)}`);
    case '/pixel':
      return page(`<img alt="" src="${tally.url}/p.gif?site_id=${PIXEL_SITE}&path=/pixel-page">`);
    case '/links':
      return page(`<a id="good" href="${tally.url}${links.good}">good</a>
<a id="tampered" href="${tally.url}${links.tampered}">tampered</a>`);
    case '/target':
      return page('<h1 id="arrived">arrived</h1>');
    default:
      return undefined;
  }
}

function refusedPages(path: string): string | undefined {
  if (path === '/landing') {
    return page('<h1>landing</h1>');
  }
  return path === '/foreign' ? page(`<h1>foreign</h1>${trackerTag()}`) : undefined;
}

const newPage = () => browser.newPage();

const stats = (site: string) => admin.stats(site, today());
const sawTracker = (p: Page) =>
  p.waitForFunction(
    () => typeof (window as { tally?: { track?: unknown } }).tally?.track === 'function',
  );

/** history.back(), resolved once popstate has fired: the path and query it arrived at. */
async function back(p: Page): Promise<string> {
  return p.evaluate(
    () =>
      new Promise<string>((resolve) => {
        addEventListener('popstate', () => resolve(location.pathname + location.search), {
          once: true,
        });
        history.back();
      }),
  );
}

/** Waits until `read` equals `expected`, then a little longer: a late duplicate would show. */
async function settlesAt<T>(read: () => Promise<T>, expected: T): Promise<void> {
  let last: T | undefined;
  await waitFor(
    async () => {
      last = await read();
      return isDeepStrictEqual(last, expected);
    },
    20_000,
    { intervalMs: 100, failure: () => new Error(`last seen: ${JSON.stringify(last)}`) },
  ).catch(() => expect(last).toEqual(expected));
  await sleep(1500);
  expect(await read()).toEqual(expected);
}

describe.runIf(run)('the tracker, the pixel and click links in Chromium', () => {
  beforeAll(async () => {
    adminKey = fakeKey();
    tally = await startServer({ AUTH: 'on', ADMIN_KEY: adminKey });
    admin = adminOf(tally.url, adminKey, '127.0.0.1');
    allowed = await servePages(allowedPages);
    refused = await servePages(refusedPages);
    for (const site_id of [SITE, PIXEL_SITE, OPTIONS_SITE]) {
      await admin.addSite({ site_id, origins: [allowed.origin] });
    }
    const res = await fetch(`${tally.url}/v1/links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target: `${allowed.origin}/target`, ad_id: AD, campaign_id: 'br' }),
    });
    links.good = ((await res.json()) as { path: string }).path;
    links.tampered = links.good.replace(encodeURIComponent('/target'), encodeURIComponent('/evil'));
    expect(links.tampered).not.toBe(links.good);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await allowed?.close();
    await refused?.close();
    await tally?.close();
  });

  it('counts a view, SPA navigations (not replaceState), popstate, a custom event, an outbound click and an unload beacon, each once', async () => {
    const context = await browser.newContext();
    const p = await context.newPage();
    await p.goto(`${allowed.origin}/app/home?utm_source=newsletter`);
    await sawTracker(p);
    await p.evaluate(() => history.pushState({}, '', '/app/a'));
    await p.evaluate(() => history.pushState({}, '', '/app/b'));
    await p.evaluate(() => history.replaceState({}, '', '/app/b?tab=2'));
    await p.evaluate(() => history.pushState({}, '', '/app/b?tab=2#section')); // same page
    // Back to /app/b?tab=2 (the entry replaceState rewrote: the same page), then to /app/a.
    expect(await back(p)).toBe('/app/b?tab=2');
    expect(await back(p)).toBe('/app/a');
    await p.evaluate(() =>
      (window as unknown as { tally: { track(n: string, p: object): void } }).tally.track(
        'signup',
        { plan: 'pro' },
      ),
    );
    await Promise.all([p.waitForURL(`${refused.origin}/landing`), p.click('#out')]);

    // The unload beacon: sent from pagehide as the page goes away, once by following a link
    // away and once by closing the tab.
    const u = await context.newPage();
    await u.goto(`${allowed.origin}/unload`);
    await sawTracker(u);
    await Promise.all([u.waitForURL(`${allowed.origin}/target`), u.click('#away')]);
    await u.goto(`${allowed.origin}/unload`);
    await sawTracker(u);
    await u.close({ runBeforeUnload: true });
    await context.close();

    const views = { '/app/a': 2, '/unload': 2, '/app/b': 1, '/app/home': 1 };
    await settlesAt(
      async () => {
        const s = await stats(SITE);
        return {
          total_views: s.total_views,
          events_by_type: s.events_by_type,
          top_paths: s.top_paths,
        };
      },
      {
        total_views: 6,
        events_by_type: { page_view: 6, signup: 1, outbound: 1, leave: 2 },
        top_paths: Object.entries(views).map(([path, n]) => ({ path, views: n })),
      },
    );
  });

  it('does not count a page from an origin the site does not allow, and says so in /v1/drops', async () => {
    const before = (await admin.drops()).origin_refused ?? 0;
    const totalBefore = (await stats(SITE)).total_events;
    const p = await newPage();
    await p.goto(`${refused.origin}/foreign`);
    await sawTracker(p);
    await settlesAt(async () => (await admin.drops()).origin_refused ?? 0, before + 1);
    expect((await stats(SITE)).total_events).toBe(totalBefore);
    await p.close();
  });

  it('sends nothing while opted out; data-replace-state and data-file-downloads count', async () => {
    const p = await newPage();
    await p.goto(`${allowed.origin}/opt-out`);
    await sawTracker(p);
    await p.evaluate(() => {
      const w = window as unknown as { tallyOptOut: boolean; tally: { track(n: string): void } };
      w.tally.track('while_opted_out');
      w.tallyOptOut = false;
      w.tally.track('after_opt_out');
    });
    await p.goto(`${allowed.origin}/options`);
    await sawTracker(p);
    await p.evaluate(() => history.replaceState({}, '', '/options?tab=2'));
    await Promise.all([p.waitForURL(`${allowed.origin}/files/report.pdf`), p.click('#dl')]);
    await p.close();
    await settlesAt(async () => {
      const s = await stats(OPTIONS_SITE);
      return [s.events_by_type, s.top_paths];
    }, [{ after_opt_out: 1, page_view: 2, download: 1 }, [{ path: '/options', views: 2 }]]);
  });

  it('counts the pixel of an <img> once', async () => {
    const p = await newPage();
    const gif = p.waitForResponse((r) => r.url().includes('/p.gif'));
    await p.goto(`${allowed.origin}/pixel`);
    const res = await gif;
    expect([res.status(), res.headers()['content-type']]).toEqual([200, 'image/gif']);
    expect(await p.evaluate(() => document.images[0]!.naturalWidth)).toBe(1);
    await p.close();
    await settlesAt(async () => {
      const s = await stats(PIXEL_SITE);
      return [s.total_views, s.top_paths];
    }, [1, [{ path: '/pixel-page', views: 1 }]]);
  });

  it('follows a signed link from an <a> to its target and counts the click; a tampered one goes nowhere', async () => {
    const p = await newPage();
    await p.goto(`${allowed.origin}/links`);
    await Promise.all([p.waitForURL(`${allowed.origin}/target`), p.click('#good')]);
    expect(await p.textContent('#arrived')).toBe('arrived');

    await p.goto(`${allowed.origin}/links`);
    const [res] = await Promise.all([
      p.waitForResponse((r) => r.url().includes('/c?')),
      p.click('#tampered'),
    ]);
    expect(res.status()).toBe(403);
    await p.waitForLoadState();
    expect(p.url()).toBe(`${tally.url}${links.tampered}`);
    await p.close();

    const clicks = async () => {
      const r = await fetch(
        `${tally.url}/v1/ads/stats?from=${today()}&to=${today()}&interval=day&group_by=ad_id&ad_id=${AD}`,
        { headers: { authorization: `Bearer ${adminKey}` } },
      );
      const body = (await r.json()) as { rows: { clicks: number }[] };
      return body.rows[0]?.clicks ?? 0;
    };
    await settlesAt(clicks, 1);
  });
});
