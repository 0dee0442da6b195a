import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AppError } from '../errors.js';
import { ErrorBody } from '../http/error-handler.js';
import { LINK_FIELDS, linkProblem, signLink, type LinkParams } from './links.js';

const LinkInput = Type.Object(
  {
    ...Object.fromEntries(LINK_FIELDS.map((f) => [f, Type.Optional(Type.String())])),
    target: Type.String({ description: 'an http(s) URL: where the link goes' }),
  },
  {
    description:
      'The click counts for site_id (a link_click event) or, with ad_id or ad_unit_id, as an ad click',
  },
);
const Link = Type.Object({
  url: Type.String({ description: "the link on this server's origin, as the request reached it" }),
  path: Type.String({ description: '/c?…&sig=…, to put after another origin of this server' }),
});

/** `POST /v1/links` (admin): makes a signed click link. */
export function linkRoutes(deps: { linkSecret: string }) {
  return async (app: FastifyInstance) => {
    app.post(
      '/v1/links',
      {
        config: { access: { scope: 'admin' as const } },
        schema: {
          summary: 'Make a signed click link (GET /c counts the click and redirects)',
          body: LinkInput,
          response: { 201: Link, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
        },
        // linkProblem names the bad field; the schema documents the body.
        validatorCompiler: () => () => true,
      },
      async (req, reply) => {
        const input = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<
          string,
          unknown
        >;
        const unknown = Object.keys(input).find(
          (k) => !(LINK_FIELDS as readonly string[]).includes(k),
        );
        const problem = unknown === undefined ? linkProblem(input) : `unknown field ${unknown}`;
        if (problem !== undefined) {
          throw new AppError('INVALID_PARAMETER', problem, 400);
        }
        const path = signLink(deps.linkSecret, input as LinkParams);
        return reply.code(201).send({ url: `${req.protocol}://${req.host}${path}`, path });
      },
    );
  };
}
