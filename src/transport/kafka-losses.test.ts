import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { LogLosses } from './broker-transport.js';
import { KafkaLossWatch } from './kafka-losses.js';
import type { LogLoss } from './transport.js';

function watch() {
  const losses = new LogLosses(createLogger({ level: 'silent' }));
  const told: LogLoss[] = [];
  losses.listen(async (l) => {
    told.push(l);
  });
  const w = new KafkaLossWatch('t', losses);
  return { w, losses, told };
}

const at = (partition: number, low: number, high: number, committed: number) => ({
  partition,
  low,
  high,
  committed,
});

describe('KafkaLossWatch', () => {
  it('finds nothing while the group consumes and retention removes only consumed messages', () => {
    const { w, losses } = watch();
    w.observe([at(0, 0, 10, 4)]);
    w.observe([at(0, 3, 20, 12)]);
    expect(losses.stats).toBeUndefined();
  });

  it('counts messages removed before the group consumed them, once; told by the owner only', async () => {
    const { w, losses, told } = watch();
    w.owned.add(0);
    w.observe([at(0, 0, 10, 2), at(1, 0, 10, 2)]);
    w.observe([at(0, 7, 10, 2), at(1, 0, 10, 2)]);
    w.observe([at(0, 7, 10, 2)]); // the consumer has not moved yet: the same gap, not another
    expect(losses.stats).toMatchObject({ incidents: 1, events: 5 });
    await Promise.resolve();
    expect(told).toEqual([{ reason: expect.stringMatching(/partition 0\)$/), events: 5 }]);
  });

  it('a deleted topic loses what was not consumed, less what the consumer holds; the reset after it is the same incident', () => {
    const { w, losses } = watch();
    w.observe([at(0, 0, 30, 10)]);
    w.holding.take(0, 15); // offsets 10–14 in hand
    w.vanished();
    w.outOfRange(0);
    w.observe([at(0, 0, 0, 10)]);
    expect(losses.stats).toMatchObject({ incidents: 1, events: 15 });
  });

  it('leaves out what the consumer took in hand after the reading: a batch not yet handed over, or applied but not seen committed', () => {
    const { w, losses } = watch();
    w.observe([at(0, 0, 30, 10)]);
    const epoch = w.holding.take(0, 25); // fetched 10–24; 10–19 applied, 20–24 given back
    w.holding.giveBack(0, epoch, 20);
    w.observe([at(0, 0, 0, -1)]);
    expect(losses.stats).toMatchObject({ incidents: 1, events: 10 });
    expect(w.holding.current(0, epoch)).toBe(false);
  });

  it('the deleted topic seen again (a held batch committed to the new topic) is not another incident', () => {
    const { w, losses } = watch();
    w.observe([at(0, 0, 21, 1)]);
    w.holding.take(0, 5);
    w.observe([at(0, 0, 0, -1)]); // created again: 16 lost, 4 held
    w.observe([at(0, 0, 0, 5)]); // the held batch's offset, committed before the reset
    w.observe([at(0, 0, 1, 0)]);
    expect(losses.stats).toMatchObject({ incidents: 1, events: 16 });
  });

  it('a batch left out of the loss as held, then given up, is lost after all', () => {
    const { w, losses } = watch();
    w.observe([at(0, 0, 21, 1)]);
    const epoch = w.holding.take(0, 5);
    w.observe([at(0, 0, 0, -1)]); // 16 lost, 1–4 held
    w.holding.giveBack(0, epoch, 3); // 1–2 applied, 3–4 given up
    w.holding.giveBack(0, epoch, 3);
    expect(losses.stats).toMatchObject({ incidents: 2, events: 18 });
  });

  it('a topic created again between two readings: its end went back', () => {
    const { w, losses } = watch();
    w.observe([at(0, 0, 30, 10)]);
    w.observe([at(0, 0, 3, -1)]);
    expect(losses.stats).toMatchObject({ incidents: 1, events: 20 });
    expect(losses.stats?.reason).toMatch(/deleted or truncated/);
  });

  it('an offset reset that no reading explains is still counted', () => {
    const { w, losses } = watch();
    w.observe([at(0, 0, 30, 10)]);
    w.outOfRange(0);
    w.observe([at(0, 0, 31, 10)]);
    expect(losses.stats).toMatchObject({ incidents: 1, events: 0 });
  });
});
