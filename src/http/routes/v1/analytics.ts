import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import { createAnalytics } from '../../../modules/analytics/analytics.js';
import { analyticsView } from '../../../modules/analytics/schemas.js';
import { access } from '../../auth.js';
import { AppError } from '../../../errors.js';

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
            /** A range ending now (or at `to`): `24h`, `7d`, `365d`; instead of `from`. */
            since: z
              .string()
              .regex(/^[1-9]\d{0,3}[hd]$/, 'must be a number of hours or days such as 24h or 30d')
              .optional(),
            bucket: z.enum(['hour', 'day']).optional(),
            connectionId: ids.optional(),
          }),
          response: { 200: analyticsView },
        },
      },
      async (req) => {
        const { since } = req.query;
        if (since && req.query.from)
          throw new AppError('validation_failed', 'Give `from` or `since`, not both.', {
            hint: '`since=7d` means the 7 days before `to` (or now).',
          });
        const end = req.query.to ? Date.parse(req.query.to) : c.clock.now().getTime();
        const from = since
          ? new Date(end - Number(since.slice(0, -1)) * (since.endsWith('d') ? 86_400_000 : 3_600_000)).toISOString()
          : req.query.from;
        return analytics.query({
          workspaceId: req.principal.workspaceId,
          ...(from ? { from } : {}),
          ...(req.query.to ? { to: req.query.to } : {}),
          ...(req.query.bucket ? { bucket: req.query.bucket } : {}),
          ...(req.query.connectionId?.length ? { connectionIds: req.query.connectionId } : {}),
        });
      },
    );
  };
