import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Credentials } from '../config.js';
import { AppError } from '../errors.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time, and of equal length whatever was sent: both sides are hashed first. */
const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/**
 * An `onRequest` hook asking for HTTP basic auth (the seeds' own page passwords, such as seed
 * 003's BULL_BOARD_USER/BULL_BOARD_PASSWORD). A browser shows its login prompt on the 401.
 */
export function basicAuthHook(creds: Credentials, realm: string) {
  const refuse = () =>
    new AppError(
      'UNAUTHORIZED',
      'this page needs its user name and password',
      401,
      undefined,
      undefined,
      {
        'www-authenticate': `Basic realm="${realm}", charset="UTF-8"`,
      },
    );
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    const h = req.headers.authorization;
    const m = h === undefined ? null : /^Basic +([A-Za-z0-9+/=]{1,1000}) *$/i.exec(h);
    if (!m) {
      throw refuse();
    }
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const at = decoded.indexOf(':');
    const user = at < 0 ? decoded : decoded.slice(0, at);
    const password = at < 0 ? '' : decoded.slice(at + 1);
    // Both compared, always: how long this takes says nothing about which one was wrong.
    const ok = [same(user, creds.user), same(password, creds.password)];
    if (!ok[0] || !ok[1]) {
      throw refuse();
    }
  };
}
