import type { Logger } from '../logger.js';
import type { Queryable } from './db.js';

/**
 * Which event ids the dedup table may hold, kept by the one process that writes it: the
 * embedded database belongs to one `tally serve` (the data directory's lock), and its
 * aggregator is the only writer of `event_ids` there. An id the filter surely does not hold is
 * written with a plain INSERT, and needs neither the lookup in older generations nor the
 * conflict check of `ON CONFLICT DO NOTHING` (a speculative insertion: a second index probe
 * and a second WAL record per row; measured on PGlite, 5,000 ids: 71-74 ms with it, 44-46 ms
 * without). The others (real duplicates and the filter's few false positives) take the
 * checked path as before.
 *
 * A Bloom filter per dedup generation, in blocks that double as they fill (a scalable Bloom
 * filter), so that a generation's ids are forgotten when it is dropped and the false positive
 * rate stays near 0.3 % per block whatever the traffic. Written here rather than taken from a
 * library: the aggregator asks it about every id of every batch (a hot path: two 32-bit hashes
 * in one pass over the id, no allocation), and the per-generation blocks are particular to
 * the dedup table.
 *
 * It is only ever an optimisation, never a correctness condition: an id it misses (a writer it
 * did not see) makes the plain INSERT fail with a unique violation; the filter then turns
 * itself off (`distrust`) and the batch is retried on the checked path. Extra ids in it (rows
 * rolled back, generations dropped, commits lost to a crash) only send more ids down the checked
 * path. Until it was filled from the table (`fill`, at start), it answers nothing.
 */
export class SeenIds {
  private readonly gens = new Map<number, Block[]>();
  private state: 'empty' | 'filling' | 'ready' | 'off' = 'empty';

  /** Whether `mayHold` can be trusted: filled from the table, and not turned off. */
  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Ids added (for /metrics and tests). */
  get size(): number {
    let n = 0;
    for (const blocks of this.gens.values()) {
      for (const b of blocks) {
        n += b.count;
      }
    }
    return n;
  }

  /** Records an id written into generation `gen` (call it for every id written, ready or not). */
  add(gen: number, id: string): void {
    let blocks = this.gens.get(gen);
    if (blocks === undefined) {
      blocks = [new Block(FIRST_CAPACITY)];
      this.gens.set(gen, blocks);
    }
    let last = blocks[blocks.length - 1]!;
    if (last.count >= last.capacity) {
      last = new Block(Math.min(last.capacity * 2, MAX_CAPACITY));
      blocks.push(last);
    }
    hash(id);
    last.set();
  }

  /** False: no generation holds `id`. True: one may (or the filter is not ready). */
  mayHold(id: string): boolean {
    if (this.state !== 'ready') {
      return true;
    }
    hash(id);
    for (const blocks of this.gens.values()) {
      for (const b of blocks) {
        if (b.has()) {
          return true;
        }
      }
    }
    return false;
  }

  /** Forgets the ids of dropped generations. */
  forget(gens: readonly number[]): void {
    for (const g of gens) {
      this.gens.delete(g);
    }
  }

  /** Off for good: something else wrote an id it did not see. */
  distrust(): void {
    this.state = 'off';
  }

  /**
   * Reads every id of every generation into the filter, in pages (each a short statement, so
   * that batches go on meanwhile, on the checked path), then trusts it. Ids written during the
   * fill are added by the writer itself, so none is missed. A failure leaves it untrusted; the
   * next call tries again.
   */
  async fill(
    db: Queryable,
    logger: Logger,
    opts: { page?: number; stopped?: () => boolean } = {},
  ): Promise<void> {
    const page = opts.page ?? FILL_PAGE;
    const stopped = opts.stopped ?? (() => false);
    if (this.state !== 'empty') {
      return;
    }
    this.state = 'filling';
    const t0 = performance.now();
    try {
      const r = await db.query<{ gens: number[] }>('SELECT gens FROM dedup_state');
      for (const gen of r.rows[0]?.gens ?? []) {
        let after = '';
        for (;;) {
          if (stopped()) {
            if (this.state === 'filling') {
              this.state = 'empty';
            }
            return;
          }
          const ids = await db.query<{ event_id: string }>(
            `/* aggregate:seen-fill */ SELECT event_id FROM event_ids_g${Math.trunc(gen)} WHERE event_id > $1 ORDER BY event_id LIMIT ${Math.trunc(page)}`,
            [after],
          );
          for (const row of ids.rows) {
            this.add(gen, row.event_id);
          }
          if (ids.rows.length < page) {
            break;
          }
          after = ids.rows[ids.rows.length - 1]!.event_id;
        }
      }
    } catch (err) {
      if (this.state === 'filling') {
        this.state = 'empty';
      }
      if (stopped()) {
        return; // the database closed under it
      }
      logger.warn({ err }, 'reading the dedup ids into the filter failed; every id is checked');
      return;
    }
    if (this.state === 'filling') {
      this.state = 'ready';
      logger.info(
        { ids: this.size, ms: Math.round(performance.now() - t0) },
        'dedup filter filled: new ids skip the conflict check',
      );
    }
  }
}

/** Ids read per statement while filling. */
const FILL_PAGE = 20_000;
/** Capacity of a generation's first block; each next one is twice as large. */
const FIRST_CAPACITY = 1 << 16;
/** The largest block: 2^26 ids in 2^30 bits (128 MiB); bit indexes stay below 2^31. */
const MAX_CAPACITY = 1 << 26;
/** Bits per id at capacity (at least; the bit count is rounded up to a power of two). */
const BITS_PER_ID = 12;
/** Bits set per id: with 12 bits per id, about 0.3 % false positives at capacity. */
const PROBES = 8;

// The two hashes of the id being added or looked up (module state: no allocation per call).
let h1 = 0;
let h2 = 0;

/** FNV-1a and a multiply-xorshift hash of `id`'s UTF-16 units, each finished with murmur3's mix. */
function hash(id: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  h1 = mix(a);
  h2 = mix(b ^ id.length) | 1;
}

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

class Block {
  count = 0;
  private readonly bits: Uint32Array;
  private readonly mask: number;

  constructor(readonly capacity: number) {
    let m = 32;
    while (m < capacity * BITS_PER_ID) {
      m *= 2;
    }
    this.bits = new Uint32Array(m / 32);
    this.mask = m - 1;
  }

  /** Sets the probes of the last `hash`. */
  set(): void {
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.count++;
  }

  /** Whether every probe of the last `hash` is set. */
  has(): boolean {
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) {
        return false;
      }
    }
    return true;
  }
}
