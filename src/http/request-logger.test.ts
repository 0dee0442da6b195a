import { Writable } from 'node:stream';
import { pino } from 'pino';
import type * as Pino from 'pino';
import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { lazyRequestLogger, withLazyChildren } from './request-logger.js';

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

/** `parent`, counting the children made of it. */
function countingChildren(parent: Pino.Logger) {
  let n = 0;
  const counting = new Proxy(parent, {
    get(target, prop, receiver) {
      if (prop === 'child') {
        n++;
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { counting, children: () => n };
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
    const { counting, children } = countingChildren(parent);
    const log = lazyRequestLogger(counting, { reqId: 'req-8' }, {});
    log.info('not logged');
    log.debug('not logged');
    expect(children()).toBe(0);
    log.warn('logged');
    expect(children()).toBe(1);
  });

  it("as fastify's root logger: each request's logger is lazy, and a line carries its reqId", async () => {
    const { parent, lines } = capture('info');
    const { counting, children } = countingChildren(parent);
    const app = Fastify({
      loggerInstance: withLazyChildren(counting),
      disableRequestLogging: true,
    });
    app.get('/quiet', async () => ({ ok: true }));
    app.get('/loud', async (req) => {
      req.log.warn({ code: 'Y' }, 'told');
      return { ok: true };
    });
    await app.ready();
    const before = children();
    expect((await app.inject({ url: '/quiet' })).statusCode).toBe(200);
    expect(children()).toBe(before);
    // The first line also makes the route's logger (kept); after that, one child per line.
    expect((await app.inject({ url: '/loud' })).statusCode).toBe(200);
    const made = children();
    expect(made).toBeGreaterThan(before);
    expect((await app.inject({ url: '/loud' })).statusCode).toBe(200);
    expect(children()).toBe(made + 1);
    expect((await app.inject({ url: '/quiet' })).statusCode).toBe(200);
    expect(children()).toBe(made + 1);
    app.log.info('root line');
    await new Promise((r) => setImmediate(r));
    expect(lines.find((l) => l['msg'] === 'told')).toMatchObject({
      code: 'Y',
      reqId: expect.any(String),
    });
    expect(lines.find((l) => l['msg'] === 'root line')).toMatchObject({ service: 'tally' });
    await app.close();
  });
});
