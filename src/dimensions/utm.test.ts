import { describe, expect, it } from 'vitest';
import { parseUtm, UTM_MAX } from './utm.js';

const page = (query: string) => `https://example.com/landing?${query}`;

describe('parseUtm', () => {
  it('reads the five tags from the query string', () => {
    expect(
      parseUtm(
        page(
          'utm_source=newsletter&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=top&x=1',
        ),
      ),
    ).toEqual({
      utm_source: 'newsletter',
      utm_medium: 'email',
      utm_campaign: 'spring',
      utm_term: 'shoes',
      utm_content: 'top',
    });
  });

  it('matches names case-insensitively and keeps values as sent, trimmed', () => {
    expect(parseUtm(page('UTM_Source=NewsLetter&Utm_Campaign=%20Spring%20'))).toEqual({
      utm_source: 'NewsLetter',
      utm_campaign: 'Spring',
    });
  });

  it('decodes %20, + and UTF-8 escapes, and escaped names', () => {
    expect(
      parseUtm(page('utm_campaign=spring%20sale&utm_term=running+shoes&utm_content=caf%C3%A9')),
    ).toEqual({ utm_campaign: 'spring sale', utm_term: 'running shoes', utm_content: 'café' });
    expect(parseUtm(page('utm%5Fsource=x'))).toEqual({ utm_source: 'x' });
    expect(parseUtm(page('utm_campaign=%F0%9F%8C%B8'))).toEqual({ utm_campaign: '🌸' });
  });

  it('keeps a malformed escape as sent, never throws, still decoding the valid ones', () => {
    expect(parseUtm(page('utm_campaign=50%off'))).toEqual({ utm_campaign: '50%off' });
    expect(parseUtm(page('utm_campaign=caf%E9'))).toEqual({ utm_campaign: 'caf%E9' });
    expect(parseUtm(page('utm_campaign=a%20b%ZZc%'))).toEqual({ utm_campaign: 'a b%ZZc%' });
  });

  it('turns control characters into spaces (no NUL reaches the database)', () => {
    expect(parseUtm(page('utm_campaign=a%00b%0A'))).toEqual({ utm_campaign: 'a b' });
    expect(parseUtm(page('utm_campaign=%00%01'))).toEqual({});
  });

  it('treats missing and empty values as absent', () => {
    expect(parseUtm(page('utm_source=&utm_medium&utm_campaign=+++&=x'))).toEqual({});
    expect(parseUtm('https://example.com/no-query')).toEqual({});
    expect(parseUtm(undefined)).toEqual({});
    expect(parseUtm('https://example.com/?')).toEqual({});
  });

  it('takes the first non-empty value of a repeated parameter', () => {
    expect(parseUtm(page('utm_source=a&utm_source=b'))).toEqual({ utm_source: 'a' });
    expect(parseUtm(page('utm_source=&utm_source=b'))).toEqual({ utm_source: 'b' });
  });

  it('reads the query string only, not the fragment', () => {
    expect(parseUtm(page('utm_source=a#utm_medium=b'))).toEqual({ utm_source: 'a' });
    expect(parseUtm('https://example.com/#/route?utm_source=spa')).toEqual({});
    expect(parseUtm(page('utm_campaign=what?&utm_term=a?b'))).toEqual({
      utm_campaign: 'what?',
      utm_term: 'a?b',
    });
  });

  it('cuts values over 128 characters to 128, not inside a surrogate pair', () => {
    expect(parseUtm(page(`utm_campaign=${'a'.repeat(300)}`))).toEqual({
      utm_campaign: 'a'.repeat(UTM_MAX),
    });
    const emoji = encodeURIComponent('🌸'.repeat(100)); // 200 UTF-16 units
    const cut = parseUtm(page(`utm_campaign=a${emoji}`)).utm_campaign!;
    expect(cut).toBe(`a${'🌸'.repeat(63)}`);
    expect(cut.length).toBe(127);
  });

  it('uses source, then ref, for a missing utm_source', () => {
    expect(parseUtm(page('ref=producthunt'))).toEqual({ utm_source: 'producthunt' });
    expect(parseUtm(page('ref=a&source=b'))).toEqual({ utm_source: 'b' });
    expect(parseUtm(page('source=b&utm_source=c&ref=a'))).toEqual({ utm_source: 'c' });
  });
});
