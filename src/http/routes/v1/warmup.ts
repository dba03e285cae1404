import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import {
  setWarmupSchema,
  warmupDeletedView,
  warmupPlanView as plan,
  warmupScopeQuery,
} from '../../../modules/warmup/schemas.js';
import { access, actorOf } from '../../auth.js';
import { idParams } from '../../schemas.js';

/** Warmup plans of a connection: `?domain=` names a domain's plan; without it, the connection's own. */
export const warmupRoutes =
  (c: Pick<Container, 'warmup'>): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/connections/:id/warmup',
      {
        config: access.to('warmup.read'),
        schema: {
          params: idParams,
          querystring: warmupScopeQuery,
          response: { 200: z.object({ data: z.array(plan) }) },
        },
      },
      async (req) => ({
        data: await c.warmup.list(req.principal.workspaceId, req.params.id, req.query.domain),
      }),
    );

    app.put(
      '/v1/connections/:id/warmup',
      {
        config: access.to('warmup.manage'),
        schema: { params: idParams, body: setWarmupSchema, response: { 200: plan, 201: plan } },
      },
      async (req, reply) => {
        const r = await c.warmup.set(req.principal.workspaceId, req.params.id, req.body, actorOf(req));
        return reply.status(r.created ? 201 : 200).send(r.plan);
      },
    );

    app.post(
      '/v1/connections/:id/warmup/pause',
      {
        config: access.to('warmup.manage'),
        schema: { params: idParams, querystring: warmupScopeQuery, response: { 200: plan } },
      },
      async (req) => c.warmup.pause(req.principal.workspaceId, req.params.id, req.query.domain, actorOf(req)),
    );

    app.post(
      '/v1/connections/:id/warmup/resume',
      {
        config: access.to('warmup.manage'),
        schema: { params: idParams, querystring: warmupScopeQuery, response: { 200: plan } },
      },
      async (req) => c.warmup.resume(req.principal.workspaceId, req.params.id, req.query.domain, actorOf(req)),
    );

    app.delete(
      '/v1/connections/:id/warmup',
      {
        config: access.to('warmup.manage'),
        schema: {
          params: idParams,
          querystring: warmupScopeQuery,
          response: { 200: warmupDeletedView },
        },
      },
      async (req) => c.warmup.remove(req.principal.workspaceId, req.params.id, req.query.domain, actorOf(req)),
    );
  };
