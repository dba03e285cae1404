import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import { AppError } from '../../../errors.js';
import { SCOPES, type Scope } from '../../../modules/operators/permissions.js';
import { access, actorOf, type Principal } from '../../auth.js';
import { apiKeyInfo, idParams } from '../../schemas.js';

const scopesField = z.array(z.enum(SCOPES)).min(1).max(SCOPES.length);
const connectionsField = z.array(z.string().min(1).max(200)).max(100).nullable();

/** A key may give no more than it has: its scopes (admin covers all) and its connections. */
function requireWithin(p: Principal, scopes: Scope[] | undefined, connectionIds: string[] | null | undefined): void {
  if (p.kind !== 'api_key') return;
  if (p.connectionIds !== null && connectionIds) {
    const outside = connectionIds.filter((x) => !p.connectionIds!.includes(x));
    if (outside.length)
      throw new AppError('forbidden', `This API key cannot give connections it may not use (${outside.join(', ')}).`, {
        hint: "Name only connections of this key's own list (by id).",
      });
  }
  const extra = (scopes ?? []).filter((s) => !p.scopes.includes('admin') && !p.scopes.includes(s));
  if (extra.length)
    throw new AppError('forbidden', `This API key cannot give scopes it does not have (${extra.join(', ')}).`, {
      hint: `Ask for scopes within this key's own (${p.scopes.join(', ')}), or use a key or session that has them.`,
      details: { scopes: extra },
    });
  if (p.connectionIds !== null && connectionIds === null)
    throw new AppError(
      'forbidden',
      'This API key is limited to some connections and cannot make a key for all of them.',
      {
        hint: 'List the connections the new key may use (connectionIds).',
      },
    );
}

export const apiKeyRoutes =
  (c: Pick<Container, 'apiKeys' | 'workspaces'>): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/workspace',
      {
        config: access.signedIn,
        schema: { response: { 200: z.object({ id: z.string(), name: z.string(), createdAt: z.string() }) } },
      },
      async (req) => c.workspaces.get(req.principal.workspaceId),
    );

    app.get(
      '/v1/api-keys',
      { config: access.to('api_keys.read'), schema: { response: { 200: z.object({ data: z.array(apiKeyInfo) }) } } },
      async (req) => ({ data: await c.apiKeys.list(req.principal.workspaceId) }),
    );

    app.post(
      '/v1/api-keys',
      {
        config: access.to('api_keys.manage'),
        schema: {
          body: z.strictObject({
            name: z.string().trim().min(1).max(100),
            scopes: scopesField.optional(),
            connectionIds: connectionsField.optional(),
          }),
          response: { 201: apiKeyInfo.extend({ key: z.string() }) },
        },
      },
      async (req, reply) => {
        const p = req.principal;
        const scopes = req.body.scopes;
        // A limited key makes keys limited to (a part of) its own connections.
        const connectionIds = req.body.connectionIds ?? (p.kind === 'api_key' ? p.connectionIds : null);
        requireWithin(p, scopes, connectionIds);
        const { key, info } = await c.apiKeys.create(p.workspaceId, req.body.name, actorOf(req), {
          ...(scopes ? { scopes } : {}),
          connectionIds,
        });
        return reply.status(201).send({ ...info, key });
      },
    );

    app.patch(
      '/v1/api-keys/:id',
      {
        config: access.to('api_keys.manage'),
        schema: {
          params: idParams,
          body: z
            .strictObject({ scopes: scopesField.optional(), connectionIds: connectionsField.optional() })
            .refine(
              (b) => b.scopes !== undefined || b.connectionIds !== undefined,
              'give scopes, connectionIds or both',
            ),
          response: { 200: apiKeyInfo },
        },
      },
      async (req) => {
        requireWithin(req.principal, req.body.scopes, req.body.connectionIds);
        return c.apiKeys.setAccess(req.principal.workspaceId, req.params.id, req.body, actorOf(req));
      },
    );

    app.delete(
      '/v1/api-keys/:id',
      { config: access.to('api_keys.manage'), schema: { params: idParams, response: { 200: apiKeyInfo } } },
      async (req) => c.apiKeys.revoke(req.principal.workspaceId, req.params.id, actorOf(req)),
    );
  };
