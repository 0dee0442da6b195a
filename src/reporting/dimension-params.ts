import { Type } from '@sinclair/typebox';
import { invalidParameter } from '../errors.js';
import { ROLLUP_DIMS } from '../rollups/dimensions.js';
import type { Filter } from './reports/filtered.js';

/** What `/v1/stats/breakdown` breaks down by. */
export const BREAKDOWN_DIMS = [...ROLLUP_DIMS, 'path', 'prop'] as const;
export type BreakdownDim = (typeof BREAKDOWN_DIMS)[number];
/** What `filter=` on `/v1/stats` and `/v1/stats/timeseries` may name. */
export const FILTER_DIMS = [...ROLLUP_DIMS, 'path'] as const;

/** Longest filter value: a path (2048) is the longest value any dimension holds. */
const MAX_FILTER_CHARS = 64 + 1 + 2048;

export const FilterParam = Type.String({
  minLength: 3,
  maxLength: MAX_FILTER_CHARS,
  description: `one dimension value, as dimension:value (the value may hold ':'), e.g. utm_campaign:spring; dimension one of ${FILTER_DIMS.join(', ')}`,
});

export const FilterEcho = Type.Object({ dimension: Type.String(), value: Type.String() });

/** `dimension:value`, split at the first ':'; a clear 400 naming `filter` otherwise. */
export function parseFilter(v: string | undefined): Filter | undefined {
  if (v === undefined) {
    return undefined;
  }
  const i = v.indexOf(':');
  const dimension = i < 0 ? v : v.slice(0, i);
  if (!(FILTER_DIMS as readonly string[]).includes(dimension)) {
    throw invalidParameter(
      'filter',
      `${JSON.stringify(dimension)} is not a dimension; give dimension:value with dimension one of ${FILTER_DIMS.join(', ')}`,
    );
  }
  const value = v.slice(i + 1);
  if (i < 0 || value === '') {
    throw invalidParameter('filter', `give dimension:value, e.g. ${dimension}:something`);
  }
  return { dimension: dimension as Filter['dimension'], value };
}
