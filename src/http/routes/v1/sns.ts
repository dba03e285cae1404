import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { access } from '../../auth.js';
import type { Container } from '../../../container.js';

/** SNS notifications are small (256 KB at most); anything larger is not one. */
const SNS_BODY_LIMIT = 300 * 1024;

export const snsRoutes =
  (c: Pick<Container, 'snsInbox'>): FastifyPluginAsyncZod =>
  async (app) => {
    // SNS posts JSON as text/plain; take the body as text whatever the content type says.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: SNS_BODY_LIMIT }, (_req, body, done) =>
      done(null, body),
    );

    app.post(
      '/v1/sns/:connectionId',
      {
        config: access.sns,
        bodyLimit: SNS_BODY_LIMIT,
        schema: {
          params: z.strictObject({ connectionId: z.string().min(1).max(100) }),
          response: {
            200: z.object({ status: z.enum(['stored', 'confirmed', 'unsubscribed']), messageId: z.string() }),
          },
        },
      },
      async (req) => c.snsInbox.receive(req.params.connectionId, typeof req.body === 'string' ? req.body : ''),
    );
  };
