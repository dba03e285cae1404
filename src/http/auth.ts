import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../errors.js';
import type { ApiKeys, Principal } from '../modules/api-keys/api-keys.js';
import type { AuthFailureLimit } from '../modules/api-keys/failure-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

/**
 * Every /v1 request needs `Authorization: Bearer <key>`; the key's workspace scopes everything after.
 * An address that has failed too often is refused before its key is looked up (`req.ip`: the
 * client as SESAME_TRUST_PROXY resolves it behind a reverse proxy).
 */
export function installAuth(
  app: FastifyInstance,
  apiKeys: Pick<ApiKeys, 'authenticate'>,
  limit: Pick<AuthFailureLimit, 'retryAfterMs' | 'fail' | 'max' | 'windowMs'>,
): void {
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    // Decide on the route that matched (the router decodes the path), never on the raw URL:
    // `/%761/...` is `/v1/...` to the router.
    const route = req.routeOptions.url;
    // SNS posts carry no key: their signature is checked instead (routes/v1/sns.ts).
    if (route === undefined || !route.startsWith('/v1/') || route.startsWith('/v1/sns/')) return;
    const wait = limit.retryAfterMs(req.ip);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      void reply.header('retry-after', String(seconds));
      throw new AppError(
        'auth_failures_limited',
        `Too many failed authentications from this address; try again in ${seconds} s.`,
        { details: { retryAfterSeconds: seconds } },
      );
    }
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    try {
      req.principal = await apiKeys.authenticate(match?.[1]);
    } catch (e) {
      if (isAppError(e) && e.code === 'unauthorized') {
        const { reached } = limit.fail(req.ip);
        if (reached)
          req.log.warn(
            { ip: req.ip, failures: limit.max, windowSeconds: limit.windowMs / 1000 },
            'too many failed API authentications from one address: refusing it until the window ends',
          );
      }
      throw e;
    }
  });
}

export const actorOf = (req: FastifyRequest): string => {
  if (!req.principal) throw new AppError('unauthorized', 'A valid API key is required.');
  return `api_key:${req.principal.apiKeyId}`;
};
