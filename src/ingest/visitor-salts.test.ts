/** Which salt a day gets, with an injected clock and an in-memory store in place of the table. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  createVisitorSalts,
  expiredDays,
  heldDays,
  pickSalt,
  type SaltStore,
} from './visitor-salts.js';

const DAY = 86_400_000;
const T = 20_000; // a UTC day number (2024-10-04)
const noon = (day: number) => day * DAY + DAY / 2;
const held = new Map([
  [T - 1, 'yesterday'],
  [T, 'today'],
  [T + 1, 'tomorrow'],
]);

/** The table's behaviour: the first salt stored for a day wins; `down` makes every call fail. */
function memoryStore() {
  const rows = new Map<number, string>();
  const store = {
    rows,
    down: false,
    async ensure(candidates: ReadonlyMap<number, string>) {
      if (store.down) {
        throw new Error('connection refused');
      }
      for (const [d, s] of candidates) {
        if (!rows.has(d)) {
          rows.set(d, s);
        }
      }
      return new Map([...candidates.keys()].map((d) => [d, rows.get(d)!]));
    },
    async deleteBefore(day: number) {
      if (store.down) {
        throw new Error('connection refused');
      }
      const old = [...rows.keys()].filter((d) => d < day);
      old.forEach((d) => rows.delete(d));
      return old.length;
    },
  };
  return store;
}

function warnings() {
  const seen: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => seen.push(line) });
  return { logger, seen: () => seen.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

async function open(store: SaltStore, clock: { now: number }, pepper?: string) {
  return createVisitorSalts({ store, logger: warnings().logger, clock: () => clock.now, pepper });
}

describe('pickSalt', () => {
  it("gives yesterday, today and tomorrow their own salt and any other day today's", () => {
    expect([T - 2, T - 1, T, T + 1, T + 2].map((d) => pickSalt(held, d, T))).toEqual([
      'today',
      'yesterday',
      'today',
      'tomorrow',
      'today',
    ]);
    expect(pickSalt(held, 0, T)).toBe('today');
  });

  it("falls back to today's when the day's own is missing, then to the newest held", () => {
    expect(pickSalt(new Map([[T, 'today']]), T + 1, T)).toBe('today');
    // The database was down across two day turns: today (T + 3) has no salt.
    expect(pickSalt(held, T + 3, T + 3)).toBe('tomorrow');
    expect(pickSalt(new Map(), T, T)).toBeUndefined();
  });

  it('holds three days and forgets those older than yesterday, but never the newest', () => {
    expect(heldDays(T)).toEqual([T - 1, T, T + 1]);
    expect(expiredDays([T - 3, T - 2, T - 1, T], T)).toEqual([T - 3, T - 2]);
    expect(expiredDays([T - 3, T - 2], T)).toEqual([T - 3]);
  });
});

describe('createVisitorSalts', () => {
  it('loads yesterday, today and tomorrow before it resolves; two processes agree', async () => {
    const store = memoryStore();
    const clock = { now: noon(T) };
    const a = await open(store, clock);
    const b = await open(store, clock);
    expect(a.days()).toEqual([T - 1, T, T + 1]);
    expect([...store.rows.keys()].sort()).toEqual([T - 1, T, T + 1]);
    for (const d of [T - 1, T, T + 1]) {
      expect(a.saltFor(d)).toBe(store.rows.get(d));
      expect(b.saltFor(d)).toBe(a.saltFor(d));
    }
    expect(new Set([T - 1, T, T + 1].map((d) => a.saltFor(d))).size).toBe(3);
    expect(a.saltFor(T - 30)).toBe(a.saltFor(T));
    a.close();
    b.close();
  });

  it('the day turn needs no database: tomorrow is held already and becomes today', async () => {
    const store = memoryStore();
    const clock = { now: noon(T) };
    const s = await open(store, clock);
    const tomorrow = s.saltFor(T + 1);
    store.down = true;
    clock.now = noon(T + 1);
    expect(s.saltFor(T + 1)).toBe(tomorrow);
    expect(s.saltFor(T - 5)).toBe(tomorrow);
    s.close();
  });

  it('48 hours on, the first day is deleted from the store and forgotten', async () => {
    const store = memoryStore();
    const clock = { now: noon(T) };
    const s = await open(store, clock);
    const first = s.saltFor(T - 1);
    clock.now += 2 * DAY;
    await s.refresh();
    expect(s.days()).toEqual([T + 1, T + 2, T + 3]);
    expect([...store.rows.keys()].sort()).toEqual([T + 1, T + 2, T + 3]);
    expect(s.saltFor(T - 1)).toBe(s.saltFor(T + 2));
    expect(s.saltFor(T - 1)).not.toBe(first);
    s.close();
  });

  it('keeps serving what it holds while the store is down, and warns', async () => {
    const store = memoryStore();
    const clock = { now: noon(T) };
    const log = warnings();
    const s = await createVisitorSalts({ store, logger: log.logger, clock: () => clock.now });
    const newest = s.saltFor(T + 1);
    store.down = true;
    clock.now = noon(T + 3);
    await s.refresh();
    // Forgotten from memory although the store could not delete them, but for the newest.
    expect(s.days()).toEqual([T + 1]);
    expect(s.saltFor(T + 3)).toBe(newest);
    expect(log.seen()).toEqual([
      'could not refresh the visitor salts; the ones held stay in use',
      "today's visitor salt is not held; hashing with the newest one held",
    ]);
    store.down = false;
    await s.refresh();
    expect(s.days()).toEqual([T + 2, T + 3, T + 4]);
    expect(s.saltFor(T + 3)).toBe(store.rows.get(T + 3));
    s.close();
  });

  it('refuses to start without its salts', async () => {
    const store = memoryStore();
    store.down = true;
    await expect(open(store, { now: noon(T) })).rejects.toThrow('connection refused');
  });

  it('mixes the pepper into every salt', async () => {
    const store = memoryStore();
    const clock = { now: noon(T) };
    const plain = await open(store, clock);
    const peppered = await open(store, clock, 'pepper-pepper-pepper');
    expect(peppered.saltFor(T)).toBe(`pepper-pepper-pepper|${plain.saltFor(T)}`);
    plain.close();
    peppered.close();
  });
});
