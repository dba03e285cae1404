import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import {
  addDomainInput,
  addDomainSchema,
  addEmailSchema,
  domainDeletedView,
  domainView,
} from '../../../modules/domains/schemas.js';
import { access, actorOf } from '../../auth.js';

const idParams = z.strictObject({ id: z.string().min(1).max(254) });

export const domainRoutes =
  (c: Pick<Container, 'domains'>): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/domains',
      {
        config: access.to('domains.manage'),
        schema: {
          body: addDomainSchema,
          response: { 201: domainView },
        },
      },
      async (req, reply) =>
        reply.status(201).send(await c.domains.add(req.principal.workspaceId, addDomainInput(req.body), actorOf(req))),
    );

    app.post(
      '/v1/identities/email',
      { config: access.to('domains.manage'), schema: { body: addEmailSchema, response: { 201: domainView } } },
      async (req, reply) =>
        reply.status(201).send(await c.domains.addEmail(req.principal.workspaceId, req.body, actorOf(req))),
    );

    app.get(
      '/v1/domains',
      {
        config: access.to('domains.read'),
        schema: {
          querystring: z.strictObject({ connection: z.string().max(100).optional() }),
          response: { 200: z.object({ data: z.array(domainView) }) },
        },
      },
      async (req) => ({
        data: await c.domains.list(
          req.principal.workspaceId,
          req.query.connection ? { connection: req.query.connection } : {},
        ),
      }),
    );

    app.get(
      '/v1/domains/:id',
      { config: access.to('domains.read'), schema: { params: idParams, response: { 200: domainView } } },
      async (req) => c.domains.get(req.principal.workspaceId, req.params.id),
    );

    app.post(
      '/v1/domains/:id/verify',
      { config: access.to('domains.manage'), schema: { params: idParams, response: { 200: domainView } } },
      async (req) => c.domains.verify(req.principal.workspaceId, req.params.id, actorOf(req)),
    );

    app.delete(
      '/v1/domains/:id',
      {
        config: access.to('domains.manage'),
        schema: {
          params: idParams,
          querystring: z.strictObject({ deleteIdentity: z.enum(['true', 'false']).optional() }),
          response: { 200: domainDeletedView },
        },
      },
      async (req) =>
        c.domains.remove(
          req.principal.workspaceId,
          req.params.id,
          actorOf(req),
          req.query.deleteIdentity ? { deleteIdentity: req.query.deleteIdentity === 'true' } : {},
        ),
    );
  };
