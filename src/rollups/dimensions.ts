import type { CanonicalEvent } from '../events/event.js';
import type { Dimensions } from '../dimensions/derive.js';
import { UTM_FIELDS } from '../dimensions/utm.js';

/** Acquisition dimensions: absent on most events (internal navigation), visitors per value. */
export const ACQUISITION_DIMS = ['source', ...UTM_FIELDS] as const;
/** Dimensions of the visitor (user agent, country): one value each on every event. */
export const PROFILE_DIMS = ['browser', 'os', 'device', 'country'] as const;
/** Every dimension kept in `site_daily_dims`, in column-free (dim, value) rows. */
export const ROLLUP_DIMS = [...ACQUISITION_DIMS, ...PROFILE_DIMS] as const;
export type RollupDim = (typeof ROLLUP_DIMS)[number];
export type AcquisitionDim = (typeof ACQUISITION_DIMS)[number];

/**
 * Bounds of the custom-property rollup, per event: the first keys in sorted order, each value
 * as text cut to a length. A property past them is not counted (the event still is).
 */
export const PROP_LIMITS = { keysPerEvent: 20, valueChars: 100 } as const;

/** Realtime minute buckets are written for events at most this old (by the aggregator's clock). */
export const REALTIME_HORIZON_MS = 3_600_000;

/** The (key, value) pairs of an event's properties that are rolled up. */
export function propPairs(props: CanonicalEvent['props']): [string, string][] {
  if (props === undefined) {
    return [];
  }
  const out: [string, string][] = [];
  for (const key of Object.keys(props).sort()) {
    const v = props[key];
    if (v === null || v === undefined) {
      continue;
    }
    out.push([key, String(v).slice(0, PROP_LIMITS.valueChars)]);
    if (out.length === PROP_LIMITS.keysPerEvent) {
      break;
    }
  }
  return out;
}

/** One visitor's dimension values of a day, usually one profile and few acquisition values. */
export interface VisitorDims {
  /** [browser, os, device, country], distinct */
  profiles: [string, string, string, string][];
  /** [dim, value] of the acquisition dimensions, distinct */
  acquired: [AcquisitionDim, string][];
}

/**
 * What one site's events of one day add to the dimension rollups. Built for the aggregator's
 * hot loop (measured: 2 µs an event with one concatenated key per dimension, 0.5 µs like
 * this): counts are nested maps keyed by the value strings the user-agent cache shares (their
 * hashes are computed once), and a visitor's values are compared with `===` against the few
 * they already have, instead of a composite key per event.
 */
export interface DimAcc {
  /** Per dimension (ROLLUP_DIMS order): value → [views, events] */
  counts: Map<string, [number, number]>[];
  /** user key → its values */
  visitors: Map<string, VisitorDims>;
  /** type, key, value → [type, key, value, events] */
  props: Map<string, [string, string, string, number]>;
}

export const newDimAcc = (): DimAcc => ({
  counts: ROLLUP_DIMS.map(() => new Map<string, [number, number]>()),
  visitors: new Map(),
  props: new Map(),
});

const S = '\u0001';
const BROWSER = ROLLUP_DIMS.indexOf('browser');

function count(m: Map<string, [number, number]>, value: string, isView: boolean): void {
  const c = m.get(value);
  if (c) {
    c[1]++;
    if (isView) {
      c[0]++;
    }
  } else {
    m.set(value, [isView ? 1 : 0, 1]);
  }
}

/** Adds one (non-bot) event of a site and day to its accumulator. */
export function addDims(
  acc: DimAcc,
  e: CanonicalEvent,
  d: Dimensions,
  user: string | undefined,
): void {
  const isView = e.type === 'page_view';
  let v: VisitorDims | undefined;
  if (user !== undefined) {
    v = acc.visitors.get(user);
    if (!v) {
      v = { profiles: [], acquired: [] };
      acc.visitors.set(user, v);
    }
  }
  // Where a visitor came from is a property of a page view: a custom event (a signup, a click)
  // sent without the page's referrer would otherwise count its visitor as direct traffic.
  for (let i = 0; isView && i < ACQUISITION_DIMS.length; i++) {
    const dim = ACQUISITION_DIMS[i]!;
    const value = d[dim];
    if (value !== undefined && value !== '') {
      count(acc.counts[i]!, value, isView);
      if (v && !v.acquired.some(([k, x]) => k === dim && x === value)) {
        v.acquired.push([dim, value]);
      }
    }
  }
  const { browser, os, device, country } = d;
  count(acc.counts[BROWSER]!, browser, isView);
  count(acc.counts[BROWSER + 1]!, os, isView);
  count(acc.counts[BROWSER + 2]!, device, isView);
  count(acc.counts[BROWSER + 3]!, country, isView);
  if (
    v &&
    !v.profiles.some((p) => p[0] === browser && p[1] === os && p[2] === device && p[3] === country)
  ) {
    v.profiles.push([browser, os, device, country]);
  }
  if (e.props !== undefined) {
    for (const [key, value] of propPairs(e.props)) {
      const k = `${e.type}${S}${key}${S}${value}`;
      const c = acc.props.get(k);
      if (c) {
        c[3]++;
      } else {
        acc.props.set(k, [e.type, key, value, 1]);
      }
    }
  }
}
