import { clean } from './utm.js';

export const DIRECT = '(direct)';

/**
 * Known sources by host (after lower-casing and dropping `www.`); a host's parent domains are
 * tried too, so `m.facebook.com` and `l.facebook.com` find `facebook.com`.
 *
 * Kept here rather than taken from a library: the usual data, Snowplow's referers.yml, is
 * derived from Matomo's lists under the GPL v3 (not redistributable in an MIT service without
 * taking on the GPL), and its npm parser (`referer-parser`, 2013–14) is unmaintained. The few
 * dozen sources that make up nearly all of a site's referred traffic fit in this table; add a
 * line when a new one matters (a test per group in source.test.ts).
 */
const HOSTS: Record<string, string> = {
  'bing.com': 'Bing',
  'duckduckgo.com': 'DuckDuckGo',
  'baidu.com': 'Baidu',
  'ecosia.org': 'Ecosia',
  'search.brave.com': 'Brave Search',
  'startpage.com': 'Startpage',
  'qwant.com': 'Qwant',
  'kagi.com': 'Kagi',
  'naver.com': 'Naver',
  'seznam.cz': 'Seznam',
  'facebook.com': 'Facebook',
  'fb.me': 'Facebook',
  'fb.com': 'Facebook',
  'instagram.com': 'Instagram',
  'threads.net': 'Threads',
  'threads.com': 'Threads',
  't.co': 'X',
  'twitter.com': 'X',
  'x.com': 'X',
  'linkedin.com': 'LinkedIn',
  'lnkd.in': 'LinkedIn',
  'reddit.com': 'Reddit',
  'youtube.com': 'YouTube',
  'youtu.be': 'YouTube',
  'tiktok.com': 'TikTok',
  'news.ycombinator.com': 'Hacker News',
  'github.com': 'GitHub',
  'gitlab.com': 'GitLab',
  'stackoverflow.com': 'Stack Overflow',
  'medium.com': 'Medium',
  'bsky.app': 'Bluesky',
  't.me': 'Telegram',
  'web.telegram.org': 'Telegram',
  'wa.me': 'WhatsApp',
  'web.whatsapp.com': 'WhatsApp',
  'discord.com': 'Discord',
  'slack.com': 'Slack',
  'vk.com': 'VK',
  'quora.com': 'Quora',
  'producthunt.com': 'Product Hunt',
  'wikipedia.org': 'Wikipedia',
  'mail.google.com': 'Gmail',
  'outlook.live.com': 'Outlook',
  'chatgpt.com': 'ChatGPT',
  'chat.openai.com': 'ChatGPT',
  'perplexity.ai': 'Perplexity',
  'claude.ai': 'Claude',
  'gemini.google.com': 'Gemini',
  'copilot.microsoft.com': 'Copilot',
};

/**
 * Brands with a domain per country: `google.de`, `google.co.uk`, `google.com.au`, `yandex.ru`,
 * `yahoo.co.jp`, `pinterest.fr`… (any subdomain; the brand must be a whole label).
 */
const BRANDS: [RegExp, string][] = [
  [/(?:^|\.)google\.(?:com?\.)?[a-z]{2,3}$/, 'Google'],
  [/(?:^|\.)yandex\.(?:com?\.)?[a-z]{2,3}$/, 'Yandex'],
  [/(?:^|\.)ya\.ru$/, 'Yandex'],
  [/(?:^|\.)yahoo\.(?:com?\.)?[a-z]{2,3}$/, 'Yahoo'],
  [/(?:^|\.)pinterest\.(?:com?\.)?[a-z]{2,3}$/, 'Pinterest'],
  [/(?:^|\.)amazon\.(?:com?\.)?[a-z]{2,3}$/, 'Amazon'],
];

/** Android apps send `android-app://<package>/…` as the referrer (Gmail, the Google app…). */
const APPS: Record<string, string> = {
  'com.google.android.gm': 'Gmail',
  'com.google.android.googlequicksearchbox': 'Google',
  'com.google.android.youtube': 'YouTube',
  'com.facebook.katana': 'Facebook',
  'com.facebook.orca': 'Messenger',
  'com.instagram.android': 'Instagram',
  'com.twitter.android': 'X',
  'com.linkedin.android': 'LinkedIn',
  'com.reddit.frontpage': 'Reddit',
  'com.slack': 'Slack',
  'org.telegram.messenger': 'Telegram',
  'com.whatsapp': 'WhatsApp',
  'com.zhiliaoapp.musically': 'TikTok',
  'com.pinterest': 'Pinterest',
  'com.microsoft.teams': 'Microsoft Teams',
};

const WEB_AUTHORITY = /^https?:\/\/([^/?#\\]*)/i;
const PLAIN_HOST = /^[a-z0-9.-]+$/;

/**
 * A host lower-cased, without a trailing dot and a leading `www.`; undefined when not a web URL.
 * The usual `https://host/…` is read by hand (~0.1 µs); anything else (a port, user info, an
 * IPv6 literal, a non-ASCII or escaped host) goes through WHATWG URL (~1 µs, measured).
 */
export function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) {
    return undefined;
  }
  const authority = WEB_AUTHORITY.exec(url)?.[1]?.toLowerCase();
  if (authority !== undefined && PLAIN_HOST.test(authority)) {
    return bareHost(authority);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return undefined;
  }
  return bareHost(u.hostname);
}

function bareHost(hostname: string): string | undefined {
  let h = hostname.toLowerCase();
  if (h.endsWith('.')) {
    h = h.slice(0, -1);
  }
  if (h.startsWith('www.')) {
    h = h.slice(4);
  }
  return h.length === 0 ? undefined : h;
}

/** The group of a bare host (`l.facebook.com` → "Facebook"), else undefined. */
export function groupOf(host: string): string | undefined {
  for (let h = host; ;) {
    const hit = HOSTS[h];
    if (hit !== undefined) {
      return hit;
    }
    const dot = h.indexOf('.');
    if (dot < 0 || h.indexOf('.', dot + 1) < 0) {
      break; // down to a registrable-looking name ("facebook.com"): no shorter parent
    }
    h = h.slice(dot + 1);
  }
  for (const [re, name] of BRANDS) {
    if (re.test(host)) {
      return name;
    }
  }
  return undefined;
}

/**
 * The source of a visit from its referrer and page URL:
 * - no referrer, an empty one, one that is not a URL, or a non-web scheme (`file:`, `about:`,
 *   `chrome-extension:`…) → "(direct)": browsers send nothing better for those;
 * - `android-app://<package>` → the app's name from the table above, else the package name;
 * - the page's own host (both lower-cased, `www.` dropped, ports ignored: `example.com:8080`
 *   is the same site as `www.example.com`) → undefined: internal navigation, under no source;
 * - a known host (HOSTS, BRANDS) → its group ("Google", "Facebook", "X", "Hacker News"…);
 * - any other host → the bare host itself ("blog.example.org"), cut to 128 characters.
 */
export function sourceOf(
  referrer: string | undefined,
  pageUrl: string | undefined,
): string | undefined {
  if (referrer === undefined || referrer.length === 0) {
    return DIRECT;
  }
  if (referrer.startsWith('android-app://')) {
    const pkg = referrer.slice('android-app://'.length).split(/[/?#]/, 1)[0]!.toLowerCase();
    return APPS[pkg] ?? clean(pkg) ?? DIRECT;
  }
  const host = hostOf(referrer);
  if (host === undefined) {
    return DIRECT;
  }
  if (pageUrl !== undefined && host === hostOf(pageUrl)) {
    return undefined;
  }
  return groupOf(host) ?? clean(host) ?? DIRECT;
}
