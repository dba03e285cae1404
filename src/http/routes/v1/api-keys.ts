import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import { AppError } from '../../../errors.js';
import { actorOf } from '../../auth.js';
import { apiKeyInfo, idParams } from '../../schemas.js';

export const apiKeyRoutes =
  (c: Pick<Container, 'apiKeys' | 'workspaces'>): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/workspace',
      { schema: { response: { 200: z.object({ id: z.string(), name: z.string(), createdAt: z.string() }) } } },
      async (req) => c.workspaces.get(req.principal.workspaceId),
    );

    app.get(
      '/v1/api-keys',
      { schema: { response: { 200: z.object({ data: z.array(apiKeyInfo) }) } } },
      async (req) => ({ data: await c.apiKeys.list(req.principal.workspaceId) }),
    );

    app.post(
      '/v1/api-keys',
      {
        schema: {
          body: z.strictObject({ name: z.string().trim().min(1).max(100), canSend: z.boolean().optional() }),
          response: { 201: apiKeyInfo.extend({ key: z.string() }) },
        },
      },
      async (req, reply) => {
        // A key may not mint a key with more rights than its own.
        if (req.body.canSend !== false && !req.principal.canSend) {
          throw new AppError('forbidden', 'A key that may not send cannot create one that may.', {
            hint: 'Create the key with "canSend": false, or use a key that may send.',
          });
        }
        const { key, info } = await c.apiKeys.create(
          req.principal.workspaceId,
          req.body.name,
          actorOf(req),
          req.body.canSend === false ? { canSend: false } : {},
        );
        return reply.status(201).send({ ...info, key });
      },
    );

    app.delete('/v1/api-keys/:id', { schema: { params: idParams, response: { 200: apiKeyInfo } } }, async (req) =>
      c.apiKeys.revoke(req.principal.workspaceId, req.params.id, actorOf(req)),
    );
  };
