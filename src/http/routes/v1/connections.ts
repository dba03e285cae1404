import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import {
  createConnectionSchema,
  rotateKeysSchema,
  updateConnectionSchema,
} from '../../../modules/connections/schemas.js';
import { access, actorOf } from '../../auth.js';
import { connectionView, idParams, testReport, wiringResult } from '../../schemas.js';

type Deps = Pick<Container, 'connections' | 'tester' | 'eventWiring'>;

export const connectionRoutes =
  (c: Deps): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/connections',
      {
        config: access.to('connections.manage'),
        schema: { body: createConnectionSchema, response: { 201: connectionView } },
      },
      async (req, reply) => {
        const v = await c.connections.create(req.principal.workspaceId, req.body, actorOf(req));
        // The External ID is also top level in role mode: it is what a person copies first.
        return reply.status(201).send(v.role ? { ...v, externalId: v.role.externalId } : v);
      },
    );

    app.get(
      '/v1/connections',
      {
        config: access.to('connections.read'),
        schema: { response: { 200: z.object({ data: z.array(connectionView) }) } },
      },
      async (req) => ({ data: await c.connections.list(req.principal.workspaceId) }),
    );

    app.get(
      '/v1/connections/:id',
      { config: access.to('connections.read'), schema: { params: idParams, response: { 200: connectionView } } },
      async (req) => c.connections.get(req.principal.workspaceId, req.params.id),
    );

    app.patch(
      '/v1/connections/:id',
      {
        config: access.to('connections.manage'),
        schema: { params: idParams, body: updateConnectionSchema, response: { 200: connectionView } },
      },
      async (req) => c.connections.update(req.principal.workspaceId, req.params.id, req.body, actorOf(req)),
    );

    app.delete(
      '/v1/connections/:id',
      {
        config: access.to('connections.manage'),
        schema: {
          params: idParams,
          response: {
            200: z.object({
              id: z.string(),
              deleted: z.literal(true),
              revokeSessionsPolicy: z
                .object({ Version: z.literal('2012-10-17'), Statement: z.array(z.record(z.string(), z.unknown())) })
                .nullable(),
              instructions: z.string(),
            }),
          },
        },
      },
      async (req) => c.connections.remove(req.principal.workspaceId, req.params.id, actorOf(req)),
    );

    app.post(
      '/v1/connections/:id/test',
      { config: access.to('connections.manage'), schema: { params: idParams, response: { 200: testReport } } },
      async (req) => c.tester.test(req.principal.workspaceId, req.params.id, actorOf(req)),
    );

    app.post(
      '/v1/connections/:id/events',
      {
        config: access.to('connections.manage'),
        schema: {
          params: idParams,
          response: { 200: wiringResult },
        },
      },
      async (req) => c.eventWiring.setup(req.principal.workspaceId, req.params.id, actorOf(req)),
    );

    app.post(
      '/v1/connections/:id/rotate-external-id',
      { config: access.to('connections.manage'), schema: { params: idParams, response: { 200: connectionView } } },
      async (req) => c.connections.rotateExternalId(req.principal.workspaceId, req.params.id, actorOf(req)),
    );

    app.post(
      '/v1/connections/:id/resume',
      { config: access.to('connections.manage'), schema: { params: idParams, response: { 200: connectionView } } },
      async (req) => c.connections.resume(req.principal.workspaceId, req.params.id, actorOf(req)),
    );
    app.post(
      '/v1/connections/:id/default',
      { config: access.to('connections.manage'), schema: { params: idParams, response: { 200: connectionView } } },
      async (req) => c.connections.makeDefault(req.principal.workspaceId, req.params.id, actorOf(req)),
    );

    app.post(
      '/v1/connections/:id/access-keys',
      {
        config: access.to('connections.manage'),
        schema: { params: idParams, body: rotateKeysSchema, response: { 200: connectionView } },
      },
      async (req) => c.connections.rotateAccessKeys(req.principal.workspaceId, req.params.id, req.body, actorOf(req)),
    );

    const artifact =
      (kind: 'template' | 'terraform' | 'awsCli', contentType: string, filename: string) =>
      async (
        req: { principal: { workspaceId: string }; params: { id: string } },
        reply: { header(k: string, v: string): unknown; send(b: string): unknown },
      ) => {
        const r = await c.connections.row(req.principal.workspaceId, req.params.id);
        if (r.mode !== 'role') {
          const { AppError } = await import('../../../errors.js');
          throw new AppError('validation_failed', 'Onboarding artifacts exist for role connections only.', {
            details: { mode: r.mode },
          });
        }
        const body = await c.connections.onboarding[kind](r);
        reply.header('content-type', contentType);
        reply.header('content-disposition', `attachment; filename="${filename}"`);
        return reply.send(body);
      };
    app.get(
      '/v1/connections/:id/cloudformation',
      { config: access.to('connections.read'), schema: { params: idParams } },
      artifact('template', 'application/x-yaml; charset=utf-8', 'sesame-role.yaml'),
    );
    app.get(
      '/v1/connections/:id/terraform',
      { config: access.to('connections.read'), schema: { params: idParams } },
      artifact('terraform', 'text/plain; charset=utf-8', 'sesame-role.tf'),
    );
    app.get(
      '/v1/connections/:id/aws-cli',
      { config: access.to('connections.read'), schema: { params: idParams } },
      artifact('awsCli', 'text/x-shellscript; charset=utf-8', 'sesame-role.sh'),
    );
  };
