/** The longest UTM value kept; longer ones are cut to this many characters. */
export const UTM_MAX = 128;

export const UTM_FIELDS = [
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
] as const;
export type UtmField = (typeof UTM_FIELDS)[number];
export type Utm = Partial<Record<UtmField, string>>;

const WANTED = new Set<string>([...UTM_FIELDS, 'source', 'ref']);
const CONTROL = /[\u0000-\u001f\u007f]+/g;

/**
 * The UTM tags of a page URL (the full `url`, query string included), as a link's author
 * wrote them. The rules, each tested in utm.test.ts:
 * - parameter names are matched case-insensitively (`UTM_Source` counts);
 * - values are decoded as a form is (`+` is a space, `%20` and UTF-8 escapes such as `%C3%A9`
 *   decoded); a malformed escape does not throw and is kept as sent (`50%off` stays `50%off`),
 *   the valid escapes around it still decoded: a tag with one bad byte is still the campaign;
 * - control characters (`%00`, `%0A`…) become a space (PostgreSQL text holds no NUL), then the
 *   value is trimmed; an empty value is absent;
 * - values over UTM_MAX (128) characters are cut to 128 (never inside a surrogate pair): a
 *   long campaign name is still counted, under its first 128 characters;
 * - a repeated parameter: the first non-empty one wins (as URLSearchParams.get);
 * - only the query string is read, not the fragment (`#utm_source=x` is not a tag);
 * - `source`, then `ref`, stand in for a missing `utm_source`, as Plausible reads them
 *   (`?ref=producthunt` is how many directories link).
 */
export function parseUtm(url: string | undefined): Utm {
  const out: Utm = {};
  if (url === undefined) {
    return out;
  }
  const hash = url.indexOf('#');
  const end = hash < 0 ? url.length : hash;
  const q = url.indexOf('?');
  if (q < 0 || q > end) {
    return out;
  }
  const query = url.slice(q + 1, end);
  let source: string | undefined;
  let ref: string | undefined;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      continue;
    }
    const name = decode(pair.slice(0, eq)).toLowerCase();
    if (!WANTED.has(name)) {
      continue;
    }
    const value = clean(decode(pair.slice(eq + 1)));
    if (value === undefined) {
      continue;
    }
    if (name === 'source') {
      source ??= value;
    } else if (name === 'ref') {
      ref ??= value;
    } else {
      out[name as UtmField] ??= value;
    }
  }
  const fallback = source ?? ref;
  if (out.utm_source === undefined && fallback !== undefined) {
    out.utm_source = fallback;
  }
  return out;
}

/** Form decoding that never throws: runs of escapes that are not valid UTF-8 stay as sent. */
function decode(s: string): string {
  const spaced = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!spaced.includes('%')) {
    return spaced;
  }
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** Control characters to spaces, trimmed, cut to UTM_MAX; undefined when nothing is left. */
export function clean(s: string, max = UTM_MAX): string | undefined {
  let v = s.replace(CONTROL, ' ').trim();
  if (v.length > max) {
    const end = isHighSurrogate(v.charCodeAt(max - 1)) ? max - 1 : max;
    v = v.slice(0, end).trimEnd();
  }
  return v.length === 0 ? undefined : v;
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
