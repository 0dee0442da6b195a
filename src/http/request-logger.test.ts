import { Writable } from 'node:stream';
import { pino } from 'pino';
import type * as Pino from 'pino';
import { describe, expect, it } from 'vitest';
import { lazyRequestLogger } from './request-logger.js';

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { parent: pino({ level, base: { service: 'tally' } }, stream), lines };
}

describe('lazyRequestLogger', () => {
  it('logs what a pino child would, with the request id bound', async () => {
    const { parent, lines } = capture('info');
    const log = lazyRequestLogger(parent, { reqId: 'req-7' }, {});
    log.warn({ code: 'X' }, 'refused');
    log.error('plain');
    log.debug('below the level');
    await new Promise((r) => setImmediate(r));
    expect(lines.map(({ reqId, code, msg, level }) => ({ reqId, code, msg, level }))).toEqual([
      { reqId: 'req-7', code: 'X', msg: 'refused', level: 40 },
      { reqId: 'req-7', code: undefined, msg: 'plain', level: 50 },
    ]);
    expect(log.level).toBe('info');
    const child = log.child({ more: 1 }) as unknown as Pino.Logger;
    expect(child.bindings()).toEqual({ service: 'tally', reqId: 'req-7', more: 1 });
  });

  it('makes no child while nothing is logged at an enabled level', () => {
    const { parent } = capture('warn');
    let children = 0;
    const counting = new Proxy(parent, {
      get(target, prop, receiver) {
        if (prop === 'child') {
          children++;
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const log = lazyRequestLogger(counting, { reqId: 'req-8' }, {});
    log.info('not logged');
    log.debug('not logged');
    expect(children).toBe(0);
    log.warn('logged');
    expect(children).toBe(1);
  });
});
