import { describe, expect, it } from 'vitest';
import { createUserAgentCache, isBot, parseUserAgent } from './user-agent.js';

/** Real UA strings of current browsers (late 2026 versions do not change their shape). */
const UA = {
  chromeWindows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  edgeWindows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  firefoxLinux: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  safariMac:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  safariIphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  chromeAndroid:
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  samsungInternet:
    'Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36',
  safariIpad:
    'Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  chromeAndroidTablet:
    'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  chromeOS:
    'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  chromeIphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1',
  smartTv:
    'Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36',
} as const;

const BOT = {
  googlebot: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  googlebotSmartphone:
    'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  bingbot: 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  headlessChrome:
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36',
  gptbot:
    'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)',
  facebookPreview: 'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
  bareMozilla: 'Mozilla/5.0',
} as const;

describe('parseUserAgent', () => {
  it('names the browser, OS and device of the major browsers', () => {
    const got = Object.fromEntries(
      Object.entries(UA).map(([k, ua]) => {
        const d = parseUserAgent(ua);
        return [k, `${d.browser} | ${d.os} | ${d.device} | bot=${d.bot}`];
      }),
    );
    expect(got).toEqual({
      chromeWindows: 'Chrome | Windows | desktop | bot=false',
      edgeWindows: 'Edge | Windows | desktop | bot=false',
      firefoxLinux: 'Firefox | Linux | desktop | bot=false',
      safariMac: 'Safari | macOS | desktop | bot=false',
      safariIphone: 'Safari | iOS | mobile | bot=false',
      chromeAndroid: 'Chrome | Android | mobile | bot=false',
      samsungInternet: 'Samsung Internet | Android | mobile | bot=false',
      safariIpad: 'Safari | iOS | tablet | bot=false',
      chromeAndroidTablet: 'Chrome | Android | tablet | bot=false',
      chromeOS: 'Chrome | ChromeOS | desktop | bot=false',
      chromeIphone: 'Chrome | iOS | mobile | bot=false',
      smartTv: 'Samsung Internet | Tizen | smarttv | bot=false',
    });
  });

  it('flags crawlers, headless browsers and AI bots (isbot)', () => {
    for (const [name, ua] of Object.entries(BOT)) {
      expect([name, parseUserAgent(ua).bot]).toEqual([name, true]);
    }
    // Surprise: Googlebot's smartphone crawler parses as a phone; only `bot` tells it apart.
    expect(parseUserAgent(BOT.googlebotSmartphone)).toEqual({
      bot: true,
      browser: 'Chrome',
      os: 'Android',
      device: 'mobile',
    });
  });

  it('does not count plain HTTP client libraries as bots (server-side senders), though isbot does', () => {
    for (const ua of [
      'curl/8.5.0',
      'Wget/1.21.4',
      'node',
      'undici',
      'python-requests/2.31.0',
      'axios/1.7.7',
      'okhttp/4.12.0',
      'Go-http-client/1.1',
    ]) {
      expect([ua, isBot(ua)]).toEqual([ua, false]);
      expect(parseUserAgent(ua)).toEqual({
        bot: false,
        browser: '(unknown)',
        os: '(unknown)',
        device: '(unknown)',
      });
    }
    expect(isBot('curlybot/1.0')).toBe(true);
  });

  it('counts a missing UA as a person with nothing known', () => {
    const unknown = { bot: false, browser: '(unknown)', os: '(unknown)', device: '(unknown)' };
    expect(parseUserAgent(undefined)).toEqual(unknown);
    expect(parseUserAgent('')).toEqual(unknown);
    // A bare Mozilla/5.0 is a bot to isbot; its OS is unknown, so it is no desktop either.
    expect(parseUserAgent('Mozilla/5.0')).toEqual({ ...unknown, bot: true });
  });

  it('an in-app browser is not a bot, a link preview is', () => {
    const facebookApp =
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/21F90 [FBAN/FBIOS;FBAV/470.0.0.38.109;FBBV/629999582;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]';
    expect(parseUserAgent(facebookApp)).toEqual({
      bot: false,
      browser: 'Facebook',
      os: 'iOS',
      device: 'mobile',
    });
    expect(parseUserAgent(BOT.facebookPreview).bot).toBe(true);
  });
});

describe('createUserAgentCache', () => {
  it('answers like parseUserAgent, the same object for a repeated UA', () => {
    const cached = createUserAgentCache(10);
    const a = cached(UA.chromeWindows);
    expect(a).toEqual(parseUserAgent(UA.chromeWindows));
    expect(cached(UA.chromeWindows)).toBe(a);
  });

  it('clears itself when full and keeps answering', () => {
    const cached = createUserAgentCache(2);
    const first = cached(UA.chromeWindows);
    cached(UA.firefoxLinux);
    cached(UA.safariMac); // full: cleared, then holds this one
    const again = cached(UA.chromeWindows);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});
