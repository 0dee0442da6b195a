import type pg from 'pg';
import type { SeedTable, TextRow } from './table.js';

/** A key as a position: the value itself for one column, a JSON array of them for several. */
export function encodeKey(table: SeedTable, row: TextRow): string {
  const values = keyValues(table, row);
  return values.length === 1 ? values[0]! : JSON.stringify(values);
}

const keyValues = (table: SeedTable, row: TextRow): string[] =>
  table.key.map((_, i) => row[`k${i}`] ?? '');

export function decodeKey(table: SeedTable, position: string): string[] {
  if (table.key.length === 1) {
    return [position];
  }
  let values: unknown;
  try {
    values = JSON.parse(position);
  } catch {
    values = undefined;
  }
  if (
    !Array.isArray(values) ||
    values.length !== table.key.length ||
    !values.every((v) => typeof v === 'string')
  ) {
    throw new Error(`the position ${position} is not a key of ${table.table}`);
  }
  return values;
}

/** `SELECT <key as text k0…>, <columns> FROM <table>`: every page's and the fingerprint's. */
export const selectSql = (table: SeedTable): string =>
  `SELECT ${[...table.key.map((k, i) => `${k}::text AS k${i}`), ...table.select].join(', ')} FROM ${table.table}`;

/**
 * The rows after `after`, in key order, a page at a time (`WHERE (key) > (after) ORDER BY key
 * LIMIT n`, served by the key's index): memory holds two pages whatever the table's size. The
 * next page is asked for while the current one is consumed. Key values travel as text and are
 * compared as the column's own type (the parameters' types are inferred from the columns).
 */
export async function* keysetPages(
  client: pg.Client,
  table: SeedTable,
  after: string | undefined,
  pageRows: number,
): AsyncGenerator<TextRow[]> {
  const cols = table.key.join(', ');
  const fetch = (from: string[] | undefined) => {
    const where =
      from === undefined
        ? ''
        : ` WHERE (${cols}) > (${from.map((_, i) => `$${i + 1}`).join(', ')})`;
    const p = client
      .query<TextRow>(`${selectSql(table)}${where} ORDER BY ${cols} LIMIT ${pageRows}`, from)
      .then((r) => r.rows);
    // A page asked for ahead and never awaited (the reader stopped) must not go unhandled.
    p.catch(() => undefined);
    return p;
  };
  let next = fetch(after === undefined ? undefined : decodeKey(table, after));
  for (;;) {
    const rows = await next;
    if (rows.length === 0) {
      return;
    }
    next =
      rows.length < pageRows
        ? Promise.resolve([])
        : fetch(keyValues(table, rows[rows.length - 1]!));
    yield rows;
  }
}
