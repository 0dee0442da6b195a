import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { LIMITS, TYPE_PATTERN } from '../events/event.js';
import { AppError, forbidden } from '../errors.js';
import { ErrorBody } from '../http/error-handler.js';
import { requestContext } from '../http/request-context.js';
import type { Ingest } from '../ingest/ingest.js';
import { LINK_FIELDS, linkProblem, verifyLink, type LinkParams } from './links.js';

/** The 43-byte 1×1 transparent GIF. */
export const GIF = Buffer.from(
  'R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==',
  'base64',
);

/** Every answer is fetched again: a cached pixel or redirect would not be counted. */
export const NO_CACHE = {
  'cache-control': 'no-store, no-cache, must-revalidate, max-age=0',
  pragma: 'no-cache',
  expires: '0',
};

/** The routes the per-IP rate limit guards besides `POST /v1/events` (their sites are in the query). */
export const PIXEL_ROUTES = [
  { method: 'GET', url: '/p.gif' },
  { method: 'GET', url: '/c' },
];

const str = (max: number, description?: string) =>
  Type.Optional(
    Type.String({ minLength: 1, maxLength: max, ...(description ? { description } : {}) }),
  );
const EVENT_FIELDS = {
  site_id: str(LIMITS.id, 'required for a page view'),
  path: str(LIMITS.url, 'default: the path of url'),
  url: str(LIMITS.url, "the page's URL; default: the Referer header (the page holding the <img>)"),
  referrer: str(LIMITS.url, "the page's own referrer, when the page knows it"),
  event_id: str(LIMITS.eventId, 'for idempotent resends'),
  ad_id: str(LIMITS.id),
  ad_unit_id: str(LIMITS.id),
  campaign_id: str(LIMITS.id),
  creative_id: str(LIMITS.id),
  account_id: str(LIMITS.id),
  user_id: str(LIMITS.user),
  visitor_id: str(LIMITS.user),
};
const PixelQuery = Type.Object(
  {
    type: Type.Optional(
      Type.String({
        pattern: TYPE_PATTERN.source,
        default: 'page_view',
        description:
          'page_view (default), impression (needs ad_id or ad_unit_id), or a custom event',
      }),
    ),
    ...EVENT_FIELDS,
    cb: str(64, 'a cache-buster, ignored'),
  },
  { additionalProperties: false },
);
const ClickQuery = Type.Object(
  {
    ...Object.fromEntries(
      LINK_FIELDS.map((f) => [f, str(f === 'target' || f === 'path' ? LIMITS.url : LIMITS.id)]),
    ),
    sig: Type.String({ minLength: 1, maxLength: 128, description: 'made by POST /v1/links' }),
  },
  { additionalProperties: false },
);
const Errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody };

/** The page the request came from, when `Referer` names one (an `<img>`'s or a link's page). */
function refererPage(req: FastifyRequest): string | undefined {
  const r = req.headers.referer;
  return r && /^https?:\/\//i.test(r) && r.length <= LIMITS.url ? r : undefined;
}

/**
 * `GET /p.gif` counts a page view (or an ad impression, or a custom event) and answers a 1×1
 * GIF; `GET /c` counts a click on a signed link and redirects to its target. Both go through
 * ingest like `POST /v1/events` (origins from `Referer`, validation, the drop ledger) and answer
 * only once the event is durable in the log. Bad input is a 400 with the error body, not a GIF:
 * an `<img>` shows nothing either way, and a monitor or a developer sees why.
 */
export function pixelRoutes(deps: { ingest: Ingest; linkSecret: string }) {
  const { ingest } = deps;
  return async (app: FastifyInstance) => {
    app.get(
      '/p.gif',
      {
        // A HEAD (link checkers, mail scanners' prefetch) must not count.
        exposeHeadRoute: false,
        schema: {
          summary:
            'Pixel: count a page view (or impression, or custom event); 1×1 GIF once durable',
          querystring: PixelQuery,
          response: { 200: Type.String({ description: '43-byte 1×1 transparent GIF' }), ...Errors },
        },
      },
      async (req, reply) => {
        const { cb: _ignored, type, ...fields } = req.query as Record<string, string | undefined>;
        await ingest.accept(
          [{ type: type ?? 'page_view', url: refererPage(req), ...fields }],
          requestContext(req),
        );
        return sendGif(reply);
      },
    );

    app.get(
      '/c',
      {
        exposeHeadRoute: false,
        schema: {
          summary:
            'Signed click link: count the click, then 302 to the target (made by POST /v1/links)',
          querystring: ClickQuery,
          response: {
            302: Type.Null({ description: 'Found: Location is the target' }),
            ...Errors,
          },
        },
      },
      async (req, reply) => {
        const { sig, ...params } = req.query as Record<string, string | undefined>;
        const problem = linkProblem(params);
        if (problem !== undefined) {
          throw new AppError('INVALID_PARAMETER', problem, 400);
        }
        const link = params as LinkParams;
        if (!verifyLink(deps.linkSecret, link, sig!)) {
          throw forbidden(
            'this link is not signed by this Tally, or was changed after it was signed',
          );
        }
        const { target, ...dims } = link;
        const ad = dims.ad_id !== undefined || dims.ad_unit_id !== undefined;
        await ingest.accept(
          [
            {
              type: ad ? 'click' : 'link_click',
              ...dims,
              url: refererPage(req),
              props: { target },
            },
          ],
          requestContext(req),
        );
        return reply.code(302).headers(NO_CACHE).header('location', target).send();
      },
    );
  };
}

function sendGif(reply: FastifyReply) {
  return reply.code(200).headers(NO_CACHE).type('image/gif').send(GIF);
}
