/** Splits `items` (kept whole) into chunks of at most `max` weight; a heavier single item is its own chunk. */
export function chunkBy<V>(items: V[], weight: (v: V) => number, max: number): V[][] {
  const out: V[][] = [];
  let cur: V[] = [];
  let w = 0;
  for (const it of items) {
    const iw = weight(it);
    if (cur.length > 0 && w + iw > max) {
      out.push(cur);
      cur = [];
      w = 0;
    }
    cur.push(it);
    w += iw;
  }
  if (cur.length > 0) {
    out.push(cur);
  }
  return out;
}
