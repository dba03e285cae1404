import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { ApiKeys, Principal } from '../modules/api-keys/api-keys.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

/** Every /v1 request needs `Authorization: Bearer <key>`; the key's workspace scopes everything after. */
export function installAuth(app: FastifyInstance, apiKeys: Pick<ApiKeys, 'authenticate'>): void {
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (req: FastifyRequest) => {
    // Decide on the route that matched (the router decodes the path), never on the raw URL:
    // `/%761/...` is `/v1/...` to the router.
    const route = req.routeOptions.url;
    // SNS posts carry no key: their signature is checked instead (routes/v1/sns.ts).
    if (route === undefined || !route.startsWith('/v1/') || route.startsWith('/v1/sns/')) return;
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    req.principal = await apiKeys.authenticate(match?.[1]);
  });
}

export const actorOf = (req: FastifyRequest): string => {
  if (!req.principal) throw new AppError('unauthorized', 'A valid API key is required.');
  return `api_key:${req.principal.apiKeyId}`;
};
