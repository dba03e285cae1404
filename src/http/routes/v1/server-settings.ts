import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { access } from '../../auth.js';
import type { Container } from '../../../container.js';
import { AppError, isAppError } from '../../../errors.js';
import { MODES, testReport } from '../../../modules/connections/schemas.js';
import { actorOf } from '../../auth.js';
import { idParams } from '../../schemas.js';

/**
 * What a client needs to know of this server's settings to ask the right questions (the modes it
 * accepts, its default region), and the state of a connection's SNS subscription, which a client
 * watches after wiring events until SNS has confirmed it; and the connection test with its progress.
 */
export const serverSettingsRoutes =
  (c: Pick<Container, 'config' | 'eventWiring' | 'tester'>): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/server',
      {
        config: access.signedIn,
        schema: {
          response: {
            200: z.object({
              sandbox: z.boolean(),
              region: z.string(),
              modes: z.array(z.enum(MODES)),
              webhooksAllowPrivate: z.boolean(),
              publicUrl: z.string().nullable(),
            }),
          },
        },
      },
      async () => ({
        sandbox: c.config.sandbox,
        region: c.config.region,
        // The host's own identity would be shared by every workspace: offered only when the operator allows it.
        modes: MODES.filter((m) => m !== 'default_chain' || c.config.allowDefaultChain),
        webhooksAllowPrivate: c.config.webhooksAllowPrivate,
        publicUrl: c.config.publicUrl ?? null,
      }),
    );

    app.get(
      '/v1/connections/:id/events',
      {
        config: access.to('connections.read'),
        schema: {
          params: idParams,
          response: { 200: z.object({ subscription: z.enum(['confirmed', 'pending_confirmation', 'missing']) }) },
        },
      },
      async (req) => ({
        subscription: await c.eventWiring.subscriptionState(req.principal.workspaceId, req.params.id),
      }),
    );

    // POST /v1/connections/:id/test, answered as NDJSON: a `{"progress": …}` line for each AssumeRole
    // retry while IAM propagates a new role (which can take a minute), then `{"result": report}` or
    // `{"error": …}`. A client shows the wait as it happens instead of hanging silently.
    app.post(
      '/v1/connections/:id/test/stream',
      // The same permission as POST /v1/connections/:id/test: a test mints credentials and records state.
      { config: access.to('connections.manage'), schema: { params: idParams } },
      async (req, reply) => {
        const actor = actorOf(req);
        reply.hijack();
        reply.raw.writeHead(200, {
          'content-type': 'application/x-ndjson; charset=utf-8',
          'cache-control': 'no-store',
          'x-request-id': String(req.id),
        });
        const line = (v: unknown) => reply.raw.write(JSON.stringify(v) + '\n');
        try {
          const report = await c.tester.test(req.principal.workspaceId, req.params.id, actor, {
            onPropagationRetry: (progress) => line({ progress }),
          });
          line({ result: testReport.parse(report) });
        } catch (e) {
          if (!isAppError(e)) req.log.error({ err: e }, 'connection test failed');
          const err = isAppError(e) ? e : new AppError('internal_error', 'Something went wrong on the server.');
          line({ error: { ...err.toJSON(), status: err.status }, requestId: String(req.id) });
        } finally {
          reply.raw.end();
        }
      },
    );
  };
