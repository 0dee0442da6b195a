import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ErrorBody } from '../http/error-handler.js';
import type { Db } from '../storage/db.js';
import type { AuthDeps } from './access.js';
import { deleteUser, keysAdmin, sitesAdmin } from './admin.js';
import type { SiteRegistry } from './site-registry.js';

const ADMIN = { access: { scope: 'admin' as const } };
const Errors = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
};
const Site = Type.Object({
  site_id: Type.String(),
  name: Type.String(),
  origins: Type.Array(Type.String()),
  public_reports: Type.Boolean(),
  ingest_key_required: Type.Boolean(),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const SiteInput = Type.Object({
  site_id: Type.Optional(Type.String({ description: 'required when adding' })),
  name: Type.Optional(Type.String()),
  origins: Type.Optional(
    Type.Array(Type.String(), {
      description: 'https://example.com, example.com (any scheme), *.example.com, or null',
    }),
  ),
  public_reports: Type.Optional(Type.Boolean()),
  ingest_key_required: Type.Optional(Type.Boolean()),
});
const Key = Type.Object({
  id: Type.String(),
  scope: Type.String(),
  sites: Type.Array(Type.String()),
  name: Type.String(),
  created_at: Type.String(),
  last_used_at: Type.Union([Type.String(), Type.Null()]),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
});
const KeyInput = Type.Object({
  scope: Type.String({ enum: ['read', 'ingest', 'admin'] }),
  sites: Type.Optional(Type.Array(Type.String(), { description: 'empty: every site' })),
  name: Type.Optional(Type.String()),
});
const SiteParams = Type.Object({ site_id: Type.String() });
const KeyParams = Type.Object({ id: Type.String() });
const UserParams = Type.Object({ user_id: Type.String() });
const UserQuery = Type.Object({ site_id: Type.Optional(Type.String()) });
/** Bodies are checked by admin.ts, which names every bad field; the schemas document them. */
const documented = { validatorCompiler: () => () => true };

const body = (b: unknown) =>
  typeof b === 'object' && b !== null ? (b as Record<string, unknown>) : {};

/** Sites, keys, user erasure and the count of failed keys: admin keys only. */
export function adminRoutes(deps: {
  db: Db;
  sites: SiteRegistry;
  /** Undefined with AUTH=off. */
  auth: AuthDeps | undefined;
}) {
  const { db } = deps;
  return async (app: FastifyInstance) => {
    app.get(
      '/v1/sites',
      {
        config: ADMIN,
        schema: { response: { 200: Type.Object({ sites: Type.Array(Site) }), ...Errors } },
      },
      async () => ({
        sites: await sitesAdmin.list(db),
      }),
    );
    app.post(
      '/v1/sites',
      {
        config: ADMIN,
        schema: { body: SiteInput, response: { 201: Site, ...Errors } },
        ...documented,
      },
      async (req, reply) => {
        const site = await sitesAdmin.add(db, body(req.body));
        await deps.sites.refresh();
        return reply.code(201).send(site);
      },
    );
    app.get<{ Params: { site_id: string } }>(
      '/v1/sites/:site_id',
      { config: ADMIN, schema: { params: SiteParams, response: { 200: Site, ...Errors } } },
      async (req) => sitesAdmin.get(db, req.params.site_id),
    );
    app.patch<{ Params: { site_id: string } }>(
      '/v1/sites/:site_id',
      {
        config: ADMIN,
        schema: { params: SiteParams, body: SiteInput, response: { 200: Site, ...Errors } },
        ...documented,
      },
      async (req) => {
        const site = await sitesAdmin.update(db, req.params.site_id, body(req.body));
        await deps.sites.refresh();
        return site;
      },
    );
    app.delete<{ Params: { site_id: string } }>(
      '/v1/sites/:site_id',
      { config: ADMIN, schema: { params: SiteParams, response: { ...Errors } } },
      async (req, reply) => {
        await sitesAdmin.remove(db, req.params.site_id);
        await deps.sites.refresh();
        return reply.code(204).send();
      },
    );
    app.get(
      '/v1/keys',
      {
        config: ADMIN,
        schema: { response: { 200: Type.Object({ keys: Type.Array(Key) }), ...Errors } },
      },
      async () => ({
        keys: await keysAdmin.list(db),
      }),
    );
    app.post(
      '/v1/keys',
      {
        config: ADMIN,
        schema: {
          body: KeyInput,
          response: {
            201: Type.Intersect([
              Key,
              Type.Object({ key: Type.String({ description: 'shown once' }) }),
            ]),
            ...Errors,
          },
        },
        ...documented,
      },
      async (req, reply) => reply.code(201).send(await keysAdmin.create(db, body(req.body))),
    );
    app.delete<{ Params: { id: string } }>(
      '/v1/keys/:id',
      { config: ADMIN, schema: { params: KeyParams, response: { ...Errors } } },
      async (req, reply) => {
        await keysAdmin.revoke(db, req.params.id);
        deps.auth?.keys.forget(req.params.id);
        return reply.code(204).send();
      },
    );
    app.delete<{ Params: { user_id: string }; Querystring: { site_id?: string } }>(
      '/v1/users/:user_id',
      {
        config: ADMIN,
        schema: {
          params: UserParams,
          querystring: UserQuery,
          response: {
            200: Type.Object({
              user_id: Type.String(),
              site_id: Type.Union([Type.String(), Type.Null()]),
              deleted: Type.Object({
                unique_user_rows: Type.Integer(),
                dead_letters: Type.Integer(),
              }),
            }),
            ...Errors,
          },
        },
      },
      async (req) => ({
        user_id: req.params.user_id,
        site_id: req.query.site_id ?? null,
        deleted: await deleteUser(db, req.params.user_id, req.query.site_id),
      }),
    );
    app.get('/v1/auth/failures', { config: ADMIN }, async () => ({
      enforced: deps.auth !== undefined,
      ...(deps.auth?.failures ?? {}),
      throttled: deps.auth?.throttle.throttled ?? 0,
    }));
  };
}
