/** The requests of seeds 001 and 003, against a server whose URL is known once it started. */
import { postJson, request } from './readme.js';

/** Seed 001: POST /api/ingestion/event and GET /api/reporting/stats. */
export const seed001 = (url: () => string) => ({
  ingest: (body: unknown) => postJson(`${url()}/api/ingestion/event`, body),
  stats: (query: string) => request(`${url()}/api/reporting/stats?${query}`),
});

/** Seed 001's JSend `fail` body. */
export const fail = (...errors: [string, string][]) => ({
  status: 'fail',
  errors: errors.map(([path, message]) => ({ path, message })),
});

/** Seed 003: POST /api/event (with the visitor cookie, when given) and GET /api/stats. */
export const seed003 = (url: () => string) => ({
  event: (body: unknown, cookie?: string) =>
    postJson(`${url()}/api/event`, body, cookie ? { cookie: `visitor_id=${cookie}` } : {}),
  stats: (siteId: string, date: string) =>
    request(`${url()}/api/stats?siteId=${siteId}&date=${date}`),
});

/** Seed 003's (NestJS) 400 body. */
export const badRequest = (...message: string[]) => ({
  statusCode: 400,
  message,
  error: 'Bad Request',
});

/** The visitor cookie seed 003 sets: one year, HttpOnly, SameSite=Lax. */
export const COOKIE =
  /^visitor_id=([0-9a-f-]{36}); Max-Age=31536000; Path=\/; Expires=[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT; HttpOnly; SameSite=Lax$/;
