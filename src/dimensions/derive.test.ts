import { describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../events/event.js';
import { createDimensions, deriveDimensions } from './derive.js';

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const event = (e: Partial<CanonicalEvent>): CanonicalEvent => ({
  event_id: 'e1',
  type: 'page_view',
  ts: 0,
  received_at: 0,
  site_id: 's',
  ...e,
});

describe('deriveDimensions', () => {
  it('answers a cached page as it answered first, whatever was done to an earlier answer', () => {
    const derive = createDimensions({ pageCacheSize: 2 });
    const landing = event({ url: 'https://a.example/?utm_source=x', referrer: 'https://t.co/1' });
    const first = derive(landing);
    first.utm_source = 'changed';
    expect(derive(landing)).toMatchObject({ source: 'X', utm_source: 'x' });
    // Past the bound the cache starts again; answers stay the same.
    derive(event({ url: 'https://a.example/b' }));
    derive(event({ url: 'https://a.example/c', referrer: 'https://a.example/b' }));
    expect(derive(landing)).toMatchObject({ source: 'X', utm_source: 'x' });
    expect(
      derive(event({ url: 'https://a.example/c', referrer: 'https://a.example/b' })).source,
    ).toBe(undefined);
  });

  it('derives every dimension of a page view from a campaign link', () => {
    expect(
      deriveDimensions(
        event({
          url: 'https://shop.example/?utm_source=news&utm_campaign=spring%20sale',
          referrer: 'https://www.google.co.uk/',
          ua: CHROME,
          country: 'DE',
        }),
      ),
    ).toEqual({
      bot: false,
      source: 'Google',
      utm_source: 'news',
      utm_campaign: 'spring sale',
      browser: 'Chrome',
      os: 'Windows',
      device: 'desktop',
      country: 'DE',
    });
  });

  it('gives the unknowns of a bare server-side event', () => {
    expect(deriveDimensions(event({}))).toEqual({
      bot: false,
      source: '(direct)',
      browser: '(unknown)',
      os: '(unknown)',
      device: '(unknown)',
      country: '(unknown)',
    });
  });

  it('puts internal navigation under no source and flags bots', () => {
    const d = createDimensions({ uaCacheSize: 4 })(
      event({
        url: 'https://example.com/b',
        referrer: 'https://www.example.com/a',
        ua: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
      }),
    );
    expect(d.source).toBeUndefined();
    expect(d.bot).toBe(true);
  });

  it('re-checks the country read from the log', () => {
    for (const country of ['us', 'USA', '', 'U1']) {
      expect(deriveDimensions(event({ country })).country).toBe('(unknown)');
    }
  });
});
