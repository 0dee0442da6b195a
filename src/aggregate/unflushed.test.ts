/**
 * The batches committed asynchronously and applied again after the embedded database was
 * reopened. Pure: the database is a stand-in that only tells its reopen count and the stored
 * checkpoint, because losing asynchronous commits inside a running process cannot be caused on
 * demand (test/storage/disk-full.int.test.ts covers the reopen itself, for real).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Db } from '../storage/db.js';
import type { Batch } from '../transport/transport.js';
import { createUnflushed } from './unflushed.js';

const batch = (position: string): Batch => ({
  events: [],
  checkpoint: { name: 'embedded', position },
});

function setup() {
  const state = { reopens: 0, durable: undefined as string | undefined, flushes: 0 };
  const db = {
    reopens: () => state.reopens,
    query: () =>
      Promise.resolve({ rows: state.durable ? [{ position: state.durable }] : [], rowCount: 1 }),
    transaction: async (fn: (tx: { query: () => Promise<unknown> }) => Promise<unknown>) => {
      await fn({ query: () => Promise.resolve({ rows: [], rowCount: 1 }) });
      state.flushes++;
    },
  } as unknown as Db;
  const applied: string[] = [];
  let reopened = 0;
  const unflushed = createUnflushed({
    db,
    logger: pino({ level: 'silent' }),
    checkpointName: 'embedded',
    enabled: true,
    apply: (b) => {
      applied.push(b.checkpoint!.position);
      state.durable = b.checkpoint!.position;
      return Promise.resolve();
    },
    onReopen: () => reopened++,
  });
  return { state, unflushed, applied, reopened: () => reopened };
}

describe('unflushed batches', () => {
  it('applies again, in order, those after the position the reopened database holds', async () => {
    const { state, unflushed, applied, reopened } = setup();
    for (const p of ['10', '20', '30', '40']) {
      await unflushed.add(batch(p));
    }
    await unflushed.recover();
    expect(applied).toEqual([]);
    state.reopens = 1;
    state.durable = '20';
    await unflushed.recover();
    expect(applied).toEqual(['30', '40']);
    expect(reopened()).toBe(1);
    await unflushed.recover();
    expect(applied).toEqual(['30', '40']);
  });

  it('applies all again when none survived, and forgets them once a flush made them durable', async () => {
    const { state, unflushed, applied } = setup();
    await unflushed.add(batch('10'));
    await unflushed.add(batch('20'));
    state.reopens = 1;
    state.durable = '5';
    await unflushed.flush();
    expect(applied).toEqual(['10', '20']);
    expect(state.flushes).toBe(1);
    state.reopens = 2;
    state.durable = '5';
    await unflushed.recover();
    expect(applied).toEqual(['10', '20']);
  });
});
