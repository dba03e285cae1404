import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { access } from '../../auth.js';
import type { Container } from '../../../container.js';
import { auditEntry } from '../../schemas.js';

const iso = z
  .string()
  .datetime({ offset: true, message: 'must be an ISO-8601 time such as 2026-01-31T12:00:00Z' })
  .transform((s) => new Date(s).toISOString());

export const auditRoutes =
  (c: Pick<Container, 'audit'>): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/audit',
      {
        config: access.to('audit.read'),
        schema: {
          querystring: z.strictObject({
            connection: z.string().max(100).optional(),
            action: z.string().max(100).optional(),
            since: iso.optional(),
            until: iso.optional(),
            limit: z.coerce.number().int().min(1).max(200).optional(),
            cursor: z.string().max(100).optional(),
          }),
          response: { 200: z.object({ data: z.array(auditEntry), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) => {
        const q = req.query;
        const page = await c.audit.list({
          workspaceId: req.principal.workspaceId,
          ...(q.connection ? { connectionId: q.connection } : {}),
          ...(q.action ? { action: q.action } : {}),
          ...(q.since ? { since: q.since } : {}),
          ...(q.until ? { until: q.until } : {}),
          ...(q.limit ? { limit: q.limit } : {}),
          ...(q.cursor ? { cursor: q.cursor } : {}),
        });
        return { data: page.entries, nextCursor: page.nextCursor };
      },
    );
  };
