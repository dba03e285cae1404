import { randomBytes } from 'node:crypto';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Container } from '../container.js';
import { AppError } from '../errors.js';
import cookie from '@fastify/cookie';
import { access, installAuth, type Principal } from './auth.js';
import { pageRoutes } from './pages.js';
import { consoleRoutes } from '../web/console.js';
import { memberRoutes } from './routes/v1/members.js';
import { sessionRoutes } from './routes/v1/session.js';
import { installErrorHandling } from './errors.js';
import { apiKeyRoutes } from './routes/v1/api-keys.js';
import { auditRoutes } from './routes/v1/audit.js';
import { connectionRoutes } from './routes/v1/connections.js';
import { platformRoutes } from './routes/v1/platform.js';
import { emailRoutes } from './routes/v1/emails.js';
import { suppressionRoutes } from './routes/v1/suppressions.js';
import { snsRoutes } from './routes/v1/sns.js';
import { domainRoutes } from './routes/v1/domains.js';
import { webhookRoutes } from './routes/v1/webhooks.js';
import { warmupRoutes } from './routes/v1/warmup.js';
import { analyticsRoutes } from './routes/v1/analytics.js';
import { serverSettingsRoutes } from './routes/v1/server-settings.js';

/** Build the HTTP server without listening: tests use inject(), `sesame start` calls listen(). */
export async function buildServer(c: Container): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: c.logger as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    genReqId: () => `req_${randomBytes(9).toString('base64url')}`,
    requestIdHeader: false,
    // Off by default: X-Forwarded-For is then ignored, so a client cannot pick the address it is counted under.
    trustProxy: c.config.trustProxy,
    frameworkErrors: (err, req, reply) => {
      const e = new AppError(
        err.code === 'FST_ERR_BAD_URL' ? 'route_not_found' : 'validation_failed',
        err.code === 'FST_ERR_BAD_URL' ? 'The URL is malformed.' : err.message,
      );
      void (reply as unknown as { status(n: number): { send(b: unknown): void } })
        .status(e.status)
        .send({ error: e.toJSON(), requestId: String(req.id) });
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', String(req.id));
  });

  await app.register(helmet, { contentSecurityPolicy: false });
  await app.register(rateLimit, {
    // Per API key (sized for sending: SES's quota paces the sends, this only stops a runaway
    // client), per signed-in person, and per address for requests without a credential. Its hook
    // runs per route, after the authentication hook: requests with a wrong key never reach it, and
    // are limited by the failed-authentication limit (auth.ts) instead.
    max: (req) =>
      (req.principal as Principal | null)?.kind === 'api_key'
        ? c.config.apiRateLimitPerKey
        : c.config.apiRateLimitPerClient,
    timeWindow: '1 minute',
    keyGenerator: (req) => {
      const p = req.principal as Principal | null;
      if (!p) return `ip:${req.ip}`;
      return p.kind === 'api_key' ? `key:${p.apiKeyId}` : `member:${p.userId}`;
    },
    allowList: (req) => req.url === '/healthz',
  });
  // The route table, for tests that must cover every route.
  const routeList: Array<{ method: string; url: string; access: string | undefined }> = [];
  app.addHook('onRoute', (r) => {
    const declared = (r.config as { access?: string } | undefined)?.access;
    for (const m of [r.method].flat()) if (m !== 'HEAD') routeList.push({ method: m, url: r.url, access: declared });
  });
  app.decorate('routeList', routeList);
  installErrorHandling(app as unknown as FastifyInstance);
  await app.register(cookie);
  installAuth(app as unknown as FastifyInstance, {
    apiKeys: c.apiKeys,
    sessions: c.sessions,
    members: c.members,
    limit: c.authLimit,
    connectionId: async (workspaceId, ref) => (await c.repos.connections.find(workspaceId, ref))?.id,
    publicUrl: c.config.publicUrl,
  });

  app.get('/healthz', { config: access.public }, async () => {
    await c.repos.workspaces.ping();
    return { status: 'ok' };
  });

  await app.register(apiKeyRoutes(c));
  await app.register(sessionRoutes(c));
  await app.register(memberRoutes(c));
  await app.register(pageRoutes(c));
  await app.register(connectionRoutes(c));
  await app.register(auditRoutes(c));
  await app.register(platformRoutes(c));
  await app.register(emailRoutes(c));
  await app.register(suppressionRoutes(c));
  await app.register(snsRoutes(c));
  await app.register(domainRoutes(c));
  await app.register(webhookRoutes(c));
  await app.register(warmupRoutes(c));
  await app.register(analyticsRoutes(c));
  await app.register(serverSettingsRoutes(c));
  await app.register(consoleRoutes);
  return app as unknown as FastifyInstance;
}
