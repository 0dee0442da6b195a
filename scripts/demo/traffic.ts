/**
 * A month of made-up but plausible traffic for `npm run demo`: two sites and one ad campaign.
 * Pure and seeded (the same seed gives the same month): `visitsFor` returns visits, each one
 * visitor's request (one IP, one user agent, its events in order), and `tally` what was sent.
 */

/** A deterministic PRNG (mulberry32): the demo and its test agree on what was sent. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
/** Picks by weight: `[[value, weight], …]`. */
function weighted<T>(r: Rand, xs: readonly (readonly [T, number])[]): T {
  let x = r() * xs.reduce((s, [, w]) => s + w, 0);
  for (const [v, w] of xs) {
    if ((x -= w) < 0) {
      return v;
    }
  }
  return xs[xs.length - 1]![0];
}

export const USER_AGENTS = [
  [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    34,
  ],
  [
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
    12,
  ],
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0', 7],
  [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
    6,
  ],
  [
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    4,
  ],
  [
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
    20,
  ],
  [
    'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
    11,
  ],
  [
    'Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
    5,
  ],
  [
    'Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
    3,
  ],
] as const;
export const BOT_AGENTS = [
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)',
];
/** Public addresses of a few networks in different countries (for the country breakdown). */
const NETWORKS = [
  ['8.8.', 30], // US
  ['81.2.', 12], // GB
  ['85.214.', 12], // DE
  ['90.84.', 8], // FR
  ['133.242.', 6], // JP
  ['177.72.', 6], // BR
  ['49.36.', 8], // IN
  ['1.128.', 4], // AU
  ['142.112.', 5], // CA
  ['145.53.', 4], // NL
] as const;
const REFERRERS = [
  [undefined, 40],
  ['https://www.google.com/', 30],
  ['https://t.co/x1', 7],
  ['https://news.ycombinator.com/', 5],
  ['https://www.reddit.com/r/programming/', 5],
  ['https://duckduckgo.com/', 5],
  ['https://www.bing.com/', 4],
  ['https://github.com/', 4],
] as const;
const CAMPAIGNS = [
  [undefined, 85],
  ['?utm_source=newsletter&utm_medium=email&utm_campaign=december', 8],
  ['?utm_source=twitter&utm_medium=social&utm_campaign=launch', 4],
  ['?utm_source=google&utm_medium=cpc&utm_campaign=winter-sale', 3],
] as const;

export interface DemoSite {
  id: string;
  name: string;
  host: string;
  /** Visits on an average weekday; weekends get `weekend` times that. */
  visitsPerDay: number;
  weekend: number;
  paths: readonly (readonly [string, number])[];
  /** Custom events: name, chance per visit, props. */
  events: readonly (readonly [string, number, Record<string, string>])[];
  /** Whether its pages show the campaign's ads. */
  ads: boolean;
}

export const SITES: readonly DemoSite[] = [
  {
    id: 'blog',
    name: 'The Tally blog',
    host: 'blog.example.com',
    visitsPerDay: 240,
    weekend: 1.3,
    paths: [
      ['/', 30],
      ['/posts/exactly-once-counting', 18],
      ['/posts/cookieless-analytics', 14],
      ['/posts/postgres-rollups', 10],
      ['/posts/kafka-vs-redis-streams', 8],
      ['/tags/postgresql', 5],
      ['/about', 6],
      ['/archive', 4],
    ],
    events: [
      ['newsletter_subscribe', 0.03, { form: 'footer' }],
      ['outbound', 0.08, { url: 'https://github.com/tally/tally' }],
    ],
    ads: true,
  },
  {
    id: 'shop',
    name: 'Tally Shop',
    host: 'shop.example.com',
    visitsPerDay: 150,
    weekend: 0.7,
    paths: [
      ['/', 25],
      ['/pricing', 20],
      ['/products/tally-cloud', 15],
      ['/products/tally-selfhosted', 12],
      ['/docs/getting-started', 14],
      ['/checkout', 6],
      ['/contact', 4],
    ],
    events: [
      ['signup', 0.06, { plan: 'pro' }],
      ['signup', 0.03, { plan: 'free' }],
      ['download', 0.04, { url: 'https://shop.example.com/files/tally-whitepaper.pdf' }],
      ['purchase', 0.015, { plan: 'pro', currency: 'EUR' }],
    ],
    ads: false,
  },
];

export const CAMPAIGN = {
  id: 'winter-sale',
  account: 'acme',
  units: ['blog-sidebar', 'blog-footer'],
  /** creative → click-through rate */
  creatives: [
    ['banner-snow', 0.021],
    ['banner-gift', 0.012],
  ] as const,
};

export interface Visit {
  ip: string;
  userAgent: string;
  bot: boolean;
  events: Record<string, unknown>[];
}

/** Share of the day's visits in each UTC hour: quiet at night, busy in the (European) day. */
const HOURS = Array.from({ length: 24 }, (_, h) => 0.25 + Math.exp(-((h - 14) ** 2) / 18));

/** The visits of the UTC day starting at `dayStartMs`, none after `nowMs`. */
export function visitsFor(r: Rand, dayStartMs: number, nowMs: number, scale: number): Visit[] {
  const out: Visit[] = [];
  const weekday = new Date(dayStartMs).getUTCDay();
  const hourTotal = HOURS.reduce((a, b) => a + b, 0);
  for (const site of SITES) {
    const weekendFactor = weekday === 0 || weekday === 6 ? site.weekend : 1;
    const n = Math.round(site.visitsPerDay * scale * weekendFactor * (0.85 + 0.3 * r()));
    for (let i = 0; i < n; i++) {
      const hour = weighted(
        r,
        HOURS.map((w, h) => [h, w / hourTotal] as const),
      );
      const ts = dayStartMs + hour * 3_600_000 + Math.floor(r() * 3_600_000);
      if (ts > nowMs) {
        continue;
      }
      out.push(visit(r, site, ts));
    }
  }
  return out.sort((a, b) => (a.events[0]!.ts as number) - (b.events[0]!.ts as number));
}

function visit(r: Rand, site: DemoSite, start: number): Visit {
  const bot = r() < 0.04;
  const net = weighted(r, NETWORKS);
  const ip = `${net}${1 + Math.floor(r() * 250)}.${1 + Math.floor(r() * 250)}`;
  const userAgent = bot ? pick(r, BOT_AGENTS) : weighted(r, USER_AGENTS);
  const events: Record<string, unknown>[] = [];
  let referrer: string | undefined = weighted(r, REFERRERS);
  let query: string = weighted(r, CAMPAIGNS) ?? '';
  let ts = start;
  const pages = bot ? 1 + Math.floor(r() * 6) : 1 + Math.floor(-Math.log(1 - r()) * 1.6);
  for (let p = 0; p < pages; p++) {
    const path = weighted(r, site.paths);
    const url = `https://${site.host}${path}${query}`;
    events.push({
      type: 'page_view',
      site_id: site.id,
      path,
      url,
      ts,
      ...(referrer ? { referrer } : {}),
    });
    if (site.ads && !bot) {
      for (const unit of CAMPAIGN.units) {
        const [creative, ctr] = pick(r, CAMPAIGN.creatives);
        const ad = {
          ad_id: `${CAMPAIGN.id}-${creative}`,
          ad_unit_id: unit,
          campaign_id: CAMPAIGN.id,
          creative_id: creative,
          account_id: CAMPAIGN.account,
          url,
        };
        events.push({ type: 'impression', ...ad, ts: ts + 500 });
        if (r() < ctr) {
          events.push({ type: 'click', ...ad, ts: ts + 4000 + Math.floor(r() * 20_000) });
        }
      }
    }
    referrer = url;
    query = '';
    ts += 10_000 + Math.floor(r() * 120_000);
  }
  if (!bot) {
    for (const [name, chance, props] of site.events) {
      if (r() < chance) {
        events.push({ type: name, site_id: site.id, path: events[0]!.path, props, ts });
      }
    }
  }
  return { ip, userAgent, bot, events };
}

/** What was sent, as the reports should count it (bots are dropped as `bot`). */
export interface Sent {
  sites: Record<string, { views: number; events: Record<string, number> }>;
  ads: { impressions: number; clicks: number };
  bots: number;
  requests: number;
  total: number;
}

export function tally(visits: readonly Visit[], into: Sent): void {
  for (const v of visits) {
    into.requests++;
    into.total += v.events.length;
    if (v.bot) {
      into.bots += v.events.length;
      continue;
    }
    for (const e of v.events) {
      if (e.type === 'impression' || e.type === 'click') {
        into.ads[e.type === 'impression' ? 'impressions' : 'clicks']++;
        continue;
      }
      const s = (into.sites[e.site_id as string] ??= { views: 0, events: {} });
      s.views += e.type === 'page_view' ? 1 : 0;
      s.events[e.type as string] = (s.events[e.type as string] ?? 0) + 1;
    }
  }
}
