import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import { WEBHOOK_EVENT_TYPES } from '../../../modules/webhooks/webhooks.js';
import { deliveryView, webhookView } from '../../../modules/webhooks/schemas.js';
import { access, actorOf } from '../../auth.js';
import { idParams } from '../../schemas.js';

const createBody = z.strictObject({
  url: z.string().trim().min(1).max(2048),
  eventTypes: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1).max(WEBHOOK_EVENT_TYPES.length),
  description: z.string().trim().max(200).optional(),
  allowPrivate: z.boolean().optional(),
});

export const webhookRoutes =
  (c: Pick<Container, 'webhooks'>): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/webhooks',
      {
        config: access.to('webhooks.manage'),
        schema: { body: createBody, response: { 201: webhookView.extend({ secret: z.string() }) } },
      },
      async (req, reply) => {
        const { webhook: w, secret } = await c.webhooks.create(
          req.principal.workspaceId,
          {
            url: req.body.url,
            eventTypes: req.body.eventTypes,
            ...(req.body.description ? { description: req.body.description } : {}),
            ...(req.body.allowPrivate !== undefined ? { allowPrivate: req.body.allowPrivate } : {}),
          },
          actorOf(req),
        );
        return reply.status(201).send({ ...w, secret });
      },
    );

    app.get(
      '/v1/webhooks',
      { config: access.to('webhooks.read'), schema: { response: { 200: z.object({ data: z.array(webhookView) }) } } },
      async (req) => ({
        data: await c.webhooks.list(req.principal.workspaceId),
      }),
    );

    app.get(
      '/v1/webhooks/:id',
      {
        config: access.to('webhooks.read'),
        schema: { params: idParams, response: { 200: webhookView.extend({ deliveries: z.array(deliveryView) }) } },
      },
      async (req) => c.webhooks.get(req.principal.workspaceId, req.params.id),
    );

    app.get(
      '/v1/webhooks/:id/deliveries',
      {
        config: access.to('webhooks.read'),
        schema: {
          params: idParams,
          querystring: z.strictObject({
            status: z.enum(['pending', 'delivered', 'failed']).optional(),
            limit: z.coerce.number().int().min(1).max(100).optional(),
            cursor: z.string().max(100).optional(),
          }),
          response: { 200: z.object({ data: z.array(deliveryView), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) =>
        c.webhooks.deliveries(req.principal.workspaceId, req.params.id, {
          ...(req.query.status ? { status: req.query.status } : {}),
          ...(req.query.limit ? { limit: req.query.limit } : {}),
          ...(req.query.cursor ? { cursor: req.query.cursor } : {}),
        }),
    );

    app.delete(
      '/v1/webhooks/:id',
      { config: access.to('webhooks.manage'), schema: { params: idParams } },
      async (req, reply) => {
        await c.webhooks.remove(req.principal.workspaceId, req.params.id, actorOf(req));
        return reply.status(204).send();
      },
    );
  };
