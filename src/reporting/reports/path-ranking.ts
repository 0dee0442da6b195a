import type { Queryable } from '../../storage/db.js';

/**
 * Exact top-N path rankings over long ranges from the monthly path rollups (migrations/0014)
 * instead of every day's rows: a year is about a dozen monthly lists, of up to one row per path
 * each (0.6 M rows for 50,000 paths, a third of the days' rows: too many to sum on every
 * request). So a threshold method: take the top M of each list, whose union are the candidates;
 * their exact totals; and T, the sum over the lists of each full list's M-th value, bounds the
 * total of any path that is no candidate. If the N-th candidate's views beat T, no other path
 * can come before it (ties included: a path tied with it would need views above T); else M
 * grows. A list shorter than M is whole, so when every list is, every path is a candidate.
 */

const DAY_MS = 86_400_000;
const ms = (day: string) => Date.parse(`${day}T00:00:00Z`);
const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
const days = (first: number, last: number): string[] => {
  const out: string[] = [];
  for (let t = first; t <= last; t += DAY_MS) {
    out.push(iso(t));
  }
  return out;
};

/** Which lists a range is read from. */
export interface RangePlan {
  /** Months (first days) read from the monthly table: their compacted days, less `minus`. */
  months: string[];
  /** Compacted days of those months outside the range, subtracted (exact totals only). */
  minus: string[];
  /** Days read from the daily table, summed as one list with `tail`. */
  edge: string[];
  /** The days not compacted yet, [first, last] (first > last: none), from the daily table. */
  tail: [string, string];
}

/**
 * Splits [from, to] by month. A month's compacted days (before `before`) in the range come from
 * its monthly row, less its compacted days outside the range, when those are fewer; else from
 * the daily rows, as do the days not compacted yet. `firstMonth`: the site's first monthly row;
 * compacted days before it have no rows at all (the range is clamped: an all-time range from
 * 1970 lists no empty month). Undefined when no month is worth reading.
 */
export function planRange(
  from: string,
  to: string,
  before: string | null,
  firstMonth: string | null = null,
): RangePlan | undefined {
  if (before === null || from > to) {
    return undefined;
  }
  const w = ms(before);
  const t = ms(to);
  // Compacted days before the first monthly row have no rows.
  const f = Math.max(ms(from), firstMonth === null ? w : ms(firstMonth));
  const plan: RangePlan = {
    months: [],
    minus: [],
    edge: [],
    tail: [iso(Math.max(ms(from), w)), to],
  };
  const lastCompacted = Math.min(t, w - DAY_MS);
  const start = new Date(f);
  for (
    let m = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1);
    m <= lastCompacted;
    m = Date.UTC(new Date(m).getUTCFullYear(), new Date(m).getUTCMonth() + 1, 1)
  ) {
    const last = Date.UTC(new Date(m).getUTCFullYear(), new Date(m).getUTCMonth() + 1, 1) - DAY_MS;
    const compactedLast = Math.min(last, w - DAY_MS);
    // In range and compacted: [inFirst, inLast].
    const inFirst = Math.max(f, m);
    const inLast = Math.min(t, compactedLast);
    const included = inLast >= inFirst ? (inLast - inFirst) / DAY_MS + 1 : 0;
    const compacted = (compactedLast - m) / DAY_MS + 1;
    if (included > 0 && compacted - included < included) {
      plan.months.push(iso(m));
      plan.minus.push(...days(m, inFirst - DAY_MS), ...days(inLast + DAY_MS, compactedLast));
    } else if (included > 0) {
      plan.edge.push(...days(inFirst, inLast));
    }
  }
  return plan.months.length > 0 ? plan : undefined;
}

/** Where a ranking reads from, as SQL: rows of (path, v views, e events). */
export interface PathSource {
  tag: string;
  /** The daily rows of `$1` site on the days `where` selects (a condition on `day`). */
  daily(where: string): string;
  /** The monthly table (site_id, month, path, views[, …]) and its (views, events) columns. */
  monthly: string;
  monthlyViews: string;
  monthlyEvents: string;
  /** The ranking's order over (path, views, events), as the daily report has it. */
  order: string;
  /** Whether a total is of a path present in the range. */
  present: string;
}

export interface RankedPath {
  path: string;
  views: number;
  events: number;
}

const WATERMARK = 'SELECT paths_compacted_before::text FROM dedup_state';
const firstMonthSql = (monthly: string) =>
  `SELECT min(month)::text FROM ${monthly} WHERE site_id = $1`;

function rankSql(s: PathSource): string {
  return `/* report:${s.tag} */ WITH
    edge AS MATERIALIZED (
      SELECT path, SUM(v) AS v, SUM(e) AS e FROM (
        ${s.daily('day = ANY($4::date[])')} UNION ALL ${s.daily('day BETWEEN $7::date AND $8::date')}
      ) d GROUP BY path
    ),
    tops AS MATERIALIZED (
      SELECT l.i, t.path, t.v FROM unnest($2::date[]) WITH ORDINALITY AS l(month, i)
        CROSS JOIN LATERAL (SELECT path, views AS v FROM ${s.monthly} m WHERE m.site_id = $1 AND m.month = l.month ORDER BY views DESC LIMIT $5) t
      UNION ALL
      (SELECT 0, path, v FROM edge ORDER BY v DESC LIMIT $5)
    ),
    bound AS (
      SELECT COALESCE(SUM(low), 0)::int8 AS bound, count(*)::int4 AS full
      FROM (SELECT min(v) AS low FROM tops GROUP BY i HAVING count(*) = $5) x
    ),
    cand AS (SELECT DISTINCT path FROM tops),
    minus AS MATERIALIZED (
      SELECT d.path, SUM(d.v) AS v, SUM(d.e) AS e FROM (${s.daily('day = ANY($3::date[])')}) d JOIN cand USING (path) GROUP BY d.path
    ),
    totals AS (
      SELECT c.path, COALESCE(m.v, 0) + COALESCE(g.v, 0) - COALESCE(x.v, 0) AS views,
        COALESCE(m.e, 0) + COALESCE(g.e, 0) - COALESCE(x.e, 0) AS events
      FROM cand c
      CROSS JOIN LATERAL (SELECT SUM(${s.monthlyViews}) AS v, SUM(${s.monthlyEvents}) AS e FROM ${s.monthly}
        WHERE site_id = $1 AND month = ANY($2::date[]) AND path = c.path) m
      LEFT JOIN edge g ON g.path = c.path
      LEFT JOIN minus x ON x.path = c.path
    )
    SELECT h.bound, h.full, h.w, h.first, r.path, r.views::int8 AS views, r.events::int8 AS events
    FROM (SELECT b.bound, b.full, (${WATERMARK}) AS w, (${firstMonthSql(s.monthly)}) AS first FROM bound b) h
    LEFT JOIN LATERAL (SELECT path, views, events FROM totals WHERE ${s.present} ORDER BY ${s.order} LIMIT $6) r ON true
    ORDER BY ${s.order}`;
}

/** Ranges shorter than this many days are summed from their days. */
const SHORT_DAYS = 7;
/** Beyond this many rows per list the candidates near every path: the days are summed instead. */
const MAX_PER_LIST = 4096;

/**
 * The top `n` paths of [from, to] from the monthly rollups, exact; undefined when the range has
 * no month worth reading that way (short or not compacted yet), or the threshold does not
 * settle: the caller then sums the daily rows. Each attempt is one statement, one snapshot,
 * which also reads the watermark: one that moved since the plan was made is planned again.
 */
export async function rankFromMonths(
  db: Queryable,
  source: PathSource,
  siteId: string,
  from: string,
  to: string,
  n: number,
): Promise<RankedPath[] | undefined> {
  if (from > to || ms(to) - ms(from) < SHORT_DAYS * DAY_MS) {
    // A short range is a few thousand rows at most: not worth the extra round trip.
    return undefined;
  }
  const extent = await db.query<{ w: string | null; first: string | null }>(
    `/* report:${source.tag}-extent */ SELECT (${WATERMARK}) AS w, (${firstMonthSql(source.monthly)}) AS first`,
    [siteId],
  );
  let before = extent.rows[0]?.w ?? null;
  let first = extent.rows[0]?.first ?? null;
  const sql = rankSql(source);
  replan: for (let attempt = 0; attempt < 4; attempt++) {
    const plan = planRange(from, to, before, first);
    if (!plan) {
      return undefined;
    }
    for (let m = Math.max(2 * n, 32); m <= MAX_PER_LIST; m *= 4) {
      const r = await db.query<{
        bound: string | number;
        full: number;
        w: string | null;
        first: string | null;
        path: string | null;
        views: string | number;
        events: string | number;
      }>(sql, [siteId, plan.months, plan.minus, plan.edge, m, n, ...plan.tail]);
      const head = r.rows[0]!;
      if (head.w !== before || head.first !== first) {
        // Compacted, or a late event started an earlier month, since the plan was made.
        before = head.w;
        first = head.first;
        continue replan;
      }
      const rows = r.rows
        .filter((x) => x.path !== null)
        .map((x) => ({ path: x.path!, views: Number(x.views), events: Number(x.events) }));
      if (
        Number(head.full) === 0 ||
        (rows.length === n && rows[n - 1]!.views > Number(head.bound))
      ) {
        return rows;
      }
    }
    return undefined;
  }
  return undefined;
}
