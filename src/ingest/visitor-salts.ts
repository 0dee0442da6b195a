import { randomBytes } from 'node:crypto';
import { DAY_MS } from '../events/time.js';
import type { Logger } from '../logger.js';
import type { Queryable } from '../storage/db.js';
import { deleteVisitorSaltsBefore, ensureVisitorSalts } from '../storage/visitor-salts.repo.js';

/**
 * The cookieless visitor hash's salt: a random one per UTC day, shared by every API process
 * through the database and deleted once the day is older than yesterday (48 hours after it
 * began). Past that no one, the operator included, can recompute that day's hashes.
 */
export interface VisitorSalts {
  /**
   * The salt for an event of UTC day `day` (days since 1970-01-01). Synchronous and without a
   * database call: it is on the hot path. See `pickSalt`.
   */
  readonly saltFor: (day: number) => string;
  /**
   * Creates the salts missing from yesterday to tomorrow and deletes the expired ones. Never
   * rejects: when the database is unreachable it logs a warning and the salts held stay in use.
   */
  refresh(): Promise<void>;
  /** The days whose salt is held in memory, ascending. */
  days(): number[];
  /** Stops the refresh timer. */
  close(): void;
}

/** Where the salts are shared: the `visitor_salts` table (storage/visitor-salts.repo.ts). */
export interface SaltStore {
  /** Stores the candidates (day → fresh salt) of days without one; returns each day's salt. */
  ensure(candidates: ReadonlyMap<number, string>): Promise<Map<number, string>>;
  /** Deletes the salts of the days before `day`; resolves with how many there were. */
  deleteBefore(day: number): Promise<number>;
}

export function saltStoreOf(db: Queryable): SaltStore {
  return {
    ensure: (candidates) => ensureVisitorSalts(db, candidates),
    deleteBefore: (day) => deleteVisitorSaltsBefore(db, day),
  };
}

/**
 * The days whose salts are held on day `today`: yesterday's (late events of a visit that
 * crossed midnight), today's, and tomorrow's, created a day ahead so that the day turn never
 * waits on the database.
 */
export const heldDays = (today: number): number[] => [today - 1, today, today + 1];

/**
 * The salt an event of day `day` gets on day `today`: its own day's when that is yesterday,
 * today or tomorrow, else today's (an old imported or late event is hashed with its arrival
 * day's salt; the hash still mixes in the event's own date).
 */
export function pickSalt(
  held: ReadonlyMap<number, string>,
  day: number,
  today: number,
): string | undefined {
  if (day >= today - 1 && day <= today + 1) {
    const own = held.get(day);
    if (own !== undefined) {
      return own;
    }
  }
  const todays = held.get(today);
  if (todays !== undefined) {
    return todays;
  }
  // Today's salt is missing only when the database was unreachable from before today's salt
  // was created (a day ahead) until after midnight. Hashing with the newest salt held keeps
  // requests accepted and this process's counts consistent; a process that did reach the
  // database hashes with the real one, so a visitor may count once per process until then.
  return held.get(Math.max(...held.keys()));
}

/**
 * The days to forget on day `today`: those older than yesterday, except the newest held (the
 * fallback above: it is in use while the database stays unreachable).
 */
export function expiredDays(days: Iterable<number>, today: number): number[] {
  const all = [...days];
  const newest = Math.max(...all);
  return all.filter((d) => d < today - 1 && d !== newest);
}

const freshSalt = () => randomBytes(32).toString('base64url');

/**
 * Loads (creating where missing) the salts of yesterday, today and tomorrow, and rejects if it
 * cannot: the API must not take traffic without them. Then refreshes them every `refreshMs` on
 * an unref'd timer. `pepper` (VISITOR_SALT) is mixed into every salt when set.
 */
export async function createVisitorSalts(deps: {
  store: SaltStore;
  logger: Logger;
  clock?: () => number;
  pepper?: string | undefined;
  refreshMs?: number;
}): Promise<VisitorSalts> {
  const { store, logger, pepper } = deps;
  const clock = deps.clock ?? Date.now;
  const today = () => Math.floor(clock() / DAY_MS);
  // Day → the salt as hashed: the pepper mixed in once here, not per event.
  const held = new Map<number, string>();

  const sync = async (day: number) => {
    const missing = heldDays(day).filter((d) => !held.has(d));
    if (missing.length > 0) {
      const stored = await store.ensure(new Map(missing.map((d) => [d, freshSalt()])));
      for (const [d, salt] of stored) {
        held.set(d, pepper ? `${pepper}|${salt}` : salt);
      }
    }
    const deleted = await store.deleteBefore(day - 1);
    if (deleted > 0) {
      logger.info({ deleted, before: day - 1 }, 'deleted expired visitor salts');
    }
  };
  const attempt = async () => {
    const day = today();
    try {
      await sync(day);
    } catch (err) {
      logger.warn({ err }, 'could not refresh the visitor salts; the ones held stay in use');
    }
    for (const d of expiredDays(held.keys(), day)) {
      held.delete(d);
    }
    if (!held.has(day)) {
      logger.warn({ day }, "today's visitor salt is not held; hashing with the newest one held");
    }
  };
  let running: Promise<void> | undefined;
  const refresh = () => {
    // One refresh at a time: a slow database must not stack them up.
    running ??= attempt().finally(() => {
      running = undefined;
    });
    return running;
  };

  await sync(today());
  const timer = setInterval(() => void refresh(), deps.refreshMs ?? 60_000);
  timer.unref();
  return {
    saltFor: (day) => {
      const salt = pickSalt(held, day, today());
      if (salt === undefined) {
        // Unreachable: creation loaded today's salt and the newest one is never forgotten.
        throw new Error('no visitor salt is held');
      }
      return salt;
    },
    refresh,
    days: () => [...held.keys()].sort((a, b) => a - b),
    close() {
      clearInterval(timer);
    },
  };
}
