import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import { createAnalytics } from '../../../modules/analytics/analytics.js';
import { analyticsView } from '../../../modules/analytics/schemas.js';
import { access } from '../../auth.js';

const iso = z
  .string()
  .datetime({ offset: true, message: 'must be an ISO-8601 time such as 2026-01-31T12:00:00Z' })
  .transform((s) => new Date(s).toISOString());

/** `connectionId=a&connectionId=b` or `connectionId=a,b`. */
const ids = z
  .union([z.string(), z.array(z.string())])
  .transform((v) =>
    [v]
      .flat()
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().max(100)).max(50));

export const analyticsRoutes =
  (c: Pick<Container, 'repos' | 'clock' | 'config'>): FastifyPluginAsyncZod =>
  async (app) => {
    const analytics = createAnalytics({
      repo: c.repos.analytics,
      connections: c.repos.connections,
      clock: c.clock,
      config: c.config,
    });
    app.get(
      '/v1/analytics',
      {
        config: access.to('analytics.read'),
        schema: {
          querystring: z.strictObject({
            from: iso.optional(),
            to: iso.optional(),
            bucket: z.enum(['hour', 'day']).optional(),
            connectionId: ids.optional(),
          }),
          response: { 200: analyticsView },
        },
      },
      async (req) =>
        analytics.query({
          workspaceId: req.principal.workspaceId,
          ...(req.query.from ? { from: req.query.from } : {}),
          ...(req.query.to ? { to: req.query.to } : {}),
          ...(req.query.bucket ? { bucket: req.query.bucket } : {}),
          ...(req.query.connectionId?.length ? { connectionIds: req.query.connectionId } : {}),
        }),
    );
  };
