import { describe, expect, it } from 'vitest';
import { sourceOf } from './source.js';

const page = 'https://www.example.com/pricing?utm_source=x';
const from = (referrer: string | undefined) => sourceOf(referrer, page);

describe('sourceOf', () => {
  it('groups Google on every country domain and subdomain', () => {
    for (const host of [
      'google.com',
      'www.google.com',
      'google.co.uk',
      'www.google.de',
      'google.com.au',
      'google.co.jp',
      'news.google.com',
    ]) {
      expect(from(`https://${host}/search?q=tally`)).toBe('Google');
    }
    expect(from('https://mail.google.com/mail/u/0/')).toBe('Gmail');
    expect(from('https://gemini.google.com/app')).toBe('Gemini');
  });

  it('does not take look-alikes for Google', () => {
    expect(from('https://notgoogle.com/')).toBe('notgoogle.com');
    expect(from('https://google.evil.com/')).toBe('google.evil.com');
  });

  it('groups search engines, social networks and AI assistants', () => {
    const cases: [string, string][] = [
      ['https://www.bing.com/search?q=a', 'Bing'],
      ['https://cn.bing.com/', 'Bing'],
      ['https://duckduckgo.com/', 'DuckDuckGo'],
      ['https://search.yahoo.com/', 'Yahoo'],
      ['https://yahoo.co.jp/', 'Yahoo'],
      ['https://yandex.ru/search/', 'Yandex'],
      ['https://www.baidu.com/link?url=x', 'Baidu'],
      ['https://www.ecosia.org/search', 'Ecosia'],
      ['https://search.brave.com/search?q=a', 'Brave Search'],
      ['https://t.co/abc123', 'X'],
      ['https://twitter.com/someone', 'X'],
      ['https://x.com/someone', 'X'],
      ['https://m.facebook.com/', 'Facebook'],
      ['https://l.facebook.com/l.php?u=x', 'Facebook'],
      ['https://lm.facebook.com/', 'Facebook'],
      ['https://www.facebook.com/', 'Facebook'],
      ['https://fb.me/x', 'Facebook'],
      ['https://l.instagram.com/', 'Instagram'],
      ['https://www.linkedin.com/feed/', 'LinkedIn'],
      ['https://lnkd.in/abc', 'LinkedIn'],
      ['https://old.reddit.com/r/x', 'Reddit'],
      ['https://out.reddit.com/t3_x', 'Reddit'],
      ['https://m.youtube.com/watch?v=x', 'YouTube'],
      ['https://youtu.be/x', 'YouTube'],
      ['https://www.pinterest.co.uk/', 'Pinterest'],
      ['https://www.tiktok.com/', 'TikTok'],
      ['https://news.ycombinator.com/item?id=1', 'Hacker News'],
      ['https://github.com/org/repo', 'GitHub'],
      ['https://chatgpt.com/', 'ChatGPT'],
      ['https://www.perplexity.ai/', 'Perplexity'],
      ['https://en.wikipedia.org/wiki/Web_analytics', 'Wikipedia'],
    ];
    for (const [referrer, source] of cases) {
      expect([referrer, from(referrer)]).toEqual([referrer, source]);
    }
  });

  it('gives any other host, lower case, without www. and port', () => {
    expect(from('https://WWW.Blog.Other.org:8443/post/1')).toBe('blog.other.org');
    expect(from('http://news.ycombinator.com.evil.org/')).toBe('news.ycombinator.com.evil.org');
    expect(from('https://xn--caf-dma.fr/')).toBe('xn--caf-dma.fr');
    expect(from('https://café.fr/')).toBe('xn--caf-dma.fr');
    expect(from('https://[2001:db8::1]/')).toBe('[2001:db8::1]');
    expect(from('https://example.org./')).toBe('example.org');
  });

  it('puts the page own host under no source: with or without www, any port, any case', () => {
    expect(from('https://www.example.com/')).toBeUndefined();
    expect(from('https://example.com/docs')).toBeUndefined();
    expect(from('http://EXAMPLE.com:8080/')).toBeUndefined();
    expect(sourceOf('https://example.com/', 'https://www.example.com:3000/')).toBeUndefined();
    // A sibling subdomain is another site.
    expect(from('https://blog.example.com/')).toBe('blog.example.com');
    // Without a page URL the own host cannot be known.
    expect(sourceOf('https://example.com/', undefined)).toBe('example.com');
  });

  it('counts no referrer, garbage and non-web schemes as direct', () => {
    expect(from(undefined)).toBe('(direct)');
    expect(from('')).toBe('(direct)');
    expect(from('not a url')).toBe('(direct)');
    expect(from('https://')).toBe('(direct)');
    expect(from('about:blank')).toBe('(direct)');
    expect(from('file:///home/me/page.html')).toBe('(direct)');
    expect(from('chrome-extension://abcdef/popup.html')).toBe('(direct)');
  });

  it('names Android apps from android-app:// referrers, else gives the package', () => {
    expect(from('android-app://com.google.android.gm')).toBe('Gmail');
    expect(from('android-app://com.google.android.googlequicksearchbox/https/www.google.com')).toBe(
      'Google',
    );
    expect(from('android-app://com.example.reader/')).toBe('com.example.reader');
    expect(from('android-app://')).toBe('(direct)');
  });

  it('bounds a long host to 128 characters', () => {
    const host = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.org`;
    expect(from(`https://${host}/`)).toBe(host.slice(0, 128));
  });
});
