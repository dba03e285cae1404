import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { access } from '../../auth.js';
import type { Container } from '../../../container.js';

export const platformRoutes =
  (c: Pick<Container, 'platform'>): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/platform',
      {
        config: access.to('connections.read'),
        schema: {
          response: {
            200: z.object({
              callerArn: z.string(),
              account: z.string(),
              trustedPrincipalArn: z.string(),
              principalSource: z.string(),
              roleChaining: z.boolean(),
            }),
          },
        },
      },
      async () => c.platform.identity(),
    );
  };
