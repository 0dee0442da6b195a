import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { notFound } from '../errors.js';
import { ErrorBody } from '../http/error-handler.js';
import { jsSizes, type Asset, type DashboardAssets } from './dashboard-assets.js';

/**
 * The page calls only the public API, from this origin: nothing else may run, load or frame
 * it. uPlot sizes its canvas through `element.style`, which a style-src policy allows.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const Js = Type.String({ description: 'the file' });
const NotModified = Type.Null({ description: 'Not Modified: the cached copy is current' });
const FileParams = Type.Object({ file: Type.String({ maxLength: 64 }) });
const FileQuery = Type.Object({
  v: Type.Optional(Type.String({ maxLength: 64, description: 'the content hash the page names' })),
});

/** Answers with `a`, gzipped when the client takes it, or 304 when its copy is current. */
function send(req: FastifyRequest, reply: FastifyReply, a: Asset, cacheControl: string) {
  const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  // Another representation, another validator (RFC 9110 §8.8.3).
  const etag = gzip ? `"${a.hash}-gz"` : `"${a.hash}"`;
  void reply.headers({
    'cache-control': cacheControl,
    etag,
    vary: 'Accept-Encoding',
    'x-content-type-options': 'nosniff',
  });
  const match = req.headers['if-none-match'];
  if (match !== undefined && match.split(/\s*,\s*/).includes(etag)) {
    return reply.code(304).send();
  }
  void reply.type(a.type);
  return gzip ? reply.header('content-encoding', 'gzip').send(a.gzip) : reply.send(a.body);
}

/**
 * `GET /`: the dashboard page; `GET /dashboard/<file>`: its script and style and uPlot's.
 * The page is revalidated on every load (a 304 is a few hundred bytes); an asset named with
 * its current hash (`?v=`, as the page names it) is cached for a year, any other for no time.
 */
export function dashboardRoutes(assets: DashboardAssets) {
  const js = jsSizes(assets);
  return async (app: FastifyInstance) => {
    app.get(
      '/',
      {
        schema: {
          summary: `The dashboard (HTML; sign in with a read or admin key). Its JavaScript: ${js.own} bytes gzipped, ${js.withUplot} with uPlot`,
          response: { 200: Type.String({ description: 'HTML' }), 304: NotModified },
        },
      },
      async (req, reply) => {
        void reply.headers({
          'content-security-policy': CSP,
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
        });
        return send(req, reply, assets.page, 'no-cache');
      },
    );
    app.get(
      '/dashboard/:file',
      {
        schema: {
          summary: `The dashboard's files: ${[...assets.files.keys()].join(', ')}`,
          params: FileParams,
          querystring: FileQuery,
          response: { 200: Js, 304: NotModified, 404: ErrorBody },
        },
      },
      async (req, reply) => {
        const { file } = req.params as Static<typeof FileParams>;
        const { v } = req.query as Static<typeof FileQuery>;
        const a = assets.files.get(file);
        if (a === undefined) {
          throw notFound(`no dashboard file ${JSON.stringify(file)}`);
        }
        const current = v === a.hash;
        return send(req, reply, a, current ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    );
  };
}
