import { describe, expect, it } from 'vitest';
import { linkProblem, newLinkSecret, signLink, verifyLink, type LinkParams } from './links.js';

const secret = newLinkSecret();
const params = (path: string) => {
  const q = new URLSearchParams(path.slice('/c?'.length));
  const sig = q.get('sig')!;
  q.delete('sig');
  return { link: Object.fromEntries(q) as LinkParams, sig };
};

describe('signed links', () => {
  it('verifies what it signed, whatever the order of the parameters', () => {
    const path = signLink(secret, { ad_id: 'a1', target: 'https://x.example/?a=1&b=2' });
    expect(path).toMatch(/^\/c\?target=https%3A%2F%2Fx\.example%2F%3Fa%3D1%26b%3D2&ad_id=a1&sig=/);
    const { link, sig } = params(path);
    expect(verifyLink(secret, { ad_id: link.ad_id!, target: link.target }, sig)).toBe(true);
  });

  it('refuses a changed parameter, an added one, another secret and a malformed signature', () => {
    const { link, sig } = params(signLink(secret, { target: 'https://x.example/', ad_id: 'a1' }));
    expect(verifyLink(secret, { ...link, target: 'https://evil.example/' }, sig)).toBe(false);
    expect(verifyLink(secret, { ...link, campaign_id: 'c' }, sig)).toBe(false);
    expect(verifyLink(newLinkSecret(), link, sig)).toBe(false);
    expect(verifyLink(secret, link, `${sig}!`)).toBe(false);
    expect(verifyLink(secret, link, sig.slice(1))).toBe(false);
  });

  it('takes only http(s) targets for a site or an ad', () => {
    expect(linkProblem({ target: 'https://x.example/', site_id: 's' })).toBeUndefined();
    expect(linkProblem({ target: 'javascript:alert(1)', ad_id: 'a' })).toBe(
      'target must be an http or https URL',
    );
    expect(linkProblem({ target: '//x.example/', ad_id: 'a' })).toBe(
      'target must be an absolute URL',
    );
    expect(linkProblem({ target: 'https://x.example/' })).toMatch(
      /give site_id, ad_id or ad_unit_id/,
    );
    expect(linkProblem({ ad_id: 'a' })).toBe('target is required');
    expect(linkProblem({ target: 'https://x.example/', ad_id: 7 })).toMatch(
      /^ad_id must be a string/,
    );
  });
});
