import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TrackerAsset } from './tracker-asset.js';

/**
 * `GET /t.js`: the tracker script, gzipped when the browser takes gzip (compressed once at
 * start). Its URL never changes, so it is cached for a day and then revalidated with its ETag
 * (a 304 is a few hundred bytes): a release reaches every site within a day, and nobody edits
 * their script tag.
 */
export function trackerRoutes(asset: TrackerAsset) {
  return async (app: FastifyInstance) => {
    app.get(
      '/t.js',
      {
        schema: {
          summary: `The tracker script (${asset.gzip.length} bytes gzipped): <script defer src="…/t.js" data-site="…">`,
          response: {
            200: Type.String({ description: 'JavaScript' }),
            304: Type.Null({ description: 'Not Modified: the cached copy is current' }),
          },
        },
      },
      async (req, reply) => {
        const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
        const etag = gzip ? asset.gzipEtag : asset.etag;
        void reply.headers({
          'cache-control': 'public, max-age=86400, stale-while-revalidate=604800',
          etag,
          vary: 'Accept-Encoding',
          // Sites that set Cross-Origin-Embedder-Policy may still load it.
          'cross-origin-resource-policy': 'cross-origin',
        });
        const match = req.headers['if-none-match'];
        if (match !== undefined && match.split(/\s*,\s*/).includes(etag)) {
          return reply.code(304).send();
        }
        void reply.type('application/javascript; charset=utf-8');
        return gzip
          ? reply.header('content-encoding', 'gzip').send(asset.gzip)
          : reply.send(asset.body);
      },
    );
  };
}
