import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import { access, actorOf } from '../../auth.js';
import { suppressionView } from '../../../modules/suppressions/schemas.js';

export const suppressionRoutes =
  (c: Pick<Container, 'suppressions'>): FastifyPluginAsyncZod =>
  async (app) => {
    // CSV import arrives as text/csv.
    app.addContentTypeParser(
      ['text/csv', 'text/plain'],
      { parseAs: 'string', bodyLimit: 20 * 1024 * 1024 },
      (_req, body, done) => done(null, body),
    );

    app.get(
      '/v1/suppressions',
      {
        config: access.to('suppressions.read'),
        schema: {
          querystring: z.strictObject({
            email: z.string().max(254).optional(),
            limit: z.coerce.number().int().min(1).max(1000).optional(),
            cursor: z.string().max(254).optional(),
          }),
          response: { 200: z.object({ data: z.array(suppressionView), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) =>
        c.suppressions.list(req.principal.workspaceId, {
          ...(req.query.email ? { email: req.query.email } : {}),
          ...(req.query.limit ? { limit: req.query.limit } : {}),
          ...(req.query.cursor ? { cursor: req.query.cursor } : {}),
        }),
    );

    app.post(
      '/v1/suppressions',
      {
        config: access.to('suppressions.manage'),
        schema: {
          body: z.strictObject({ email: z.string().max(254), reason: z.string().max(200).optional() }),
          response: { 200: suppressionView, 201: suppressionView },
        },
      },
      async (req, reply) => {
        const r = await c.suppressions.add(
          req.principal.workspaceId,
          { email: req.body.email, ...(req.body.reason ? { reason: req.body.reason } : {}), source: 'api' },
          actorOf(req),
        );
        return reply.status(r.created ? 201 : 200).send(r.suppression);
      },
    );

    app.delete(
      '/v1/suppressions/:email',
      { config: access.to('suppressions.manage'), schema: { params: z.strictObject({ email: z.string().max(254) }) } },
      async (req, reply) => {
        await c.suppressions.remove(req.principal.workspaceId, req.params.email, actorOf(req));
        return reply.status(204).send();
      },
    );

    app.post(
      '/v1/suppressions/import',
      {
        config: access.to('suppressions.manage'),
        schema: {
          body: z.string().max(20 * 1024 * 1024),
          response: {
            200: z.object({
              imported: z.number(),
              existing: z.number(),
              errors: z.array(z.object({ line: z.number(), message: z.string() })),
            }),
          },
        },
      },
      async (req) => c.suppressions.importCsv(req.principal.workspaceId, req.body, actorOf(req)),
    );

    app.get('/v1/suppressions/export', { config: access.to('suppressions.read') }, async (req, reply) => {
      reply.header('content-type', 'text/csv; charset=utf-8');
      reply.header('content-disposition', 'attachment; filename="suppressions.csv"');
      return reply.send(await c.suppressions.exportCsv(req.principal.workspaceId));
    });
  };
