import type { FastifyInstance, FastifyRequest } from 'fastify';
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
    if (!req.url.startsWith('/v1/') && req.url !== '/v1') return;
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    req.principal = await apiKeys.authenticate(match?.[1]);
  });
}

export const actorOf = (req: FastifyRequest): string => `api_key:${req.principal.apiKeyId}`;
