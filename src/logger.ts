import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; receives its level, never reads config itself. */
export function createLogger(opts: { level: string }): Logger {
  return pino({
    level: opts.level,
    base: { service: 'tally' },
    redact: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.DATABASE_URL'],
  });
}
