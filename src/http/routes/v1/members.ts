import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import { ROLES } from '../../../modules/operators/permissions.js';
import { access, memberActorOf } from '../../auth.js';
import { idParams } from '../../schemas.js';

const memberView = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(ROLES),
  source: z.enum(['owner', 'invitation', 'idp']),
  createdAt: z.string(),
  lastSignInAt: z.string().nullable(),
});
const invitationView = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(ROLES),
  invitedBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
});
/** A member by user id or email. */
const memberParams = z.strictObject({ id: z.string().min(1).max(320) });

/** Members of the workspace, their roles and invitations. */
export const memberRoutes =
  (c: Pick<Container, 'members'>): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/members',
      { config: access.to('members.read'), schema: { response: { 200: z.object({ data: z.array(memberView) }) } } },
      async (req) => ({ data: await c.members.list(req.principal.workspaceId) }),
    );

    app.get(
      '/v1/invitations',
      {
        config: access.to('members.read'),
        schema: { response: { 200: z.object({ data: z.array(invitationView) }) } },
      },
      async (req) => ({ data: await c.members.invitations(req.principal.workspaceId) }),
    );

    app.post(
      '/v1/invitations',
      {
        config: access.to('members.manage'),
        schema: {
          body: z.strictObject({ email: z.string().min(3).max(320), role: z.string().min(1).max(20) }),
          response: { 201: invitationView },
        },
      },
      async (req, reply) =>
        reply
          .status(201)
          .send(await c.members.invite(req.principal.workspaceId, req.body.email, req.body.role, memberActorOf(req))),
    );

    app.delete(
      '/v1/invitations/:id',
      { config: access.to('members.manage'), schema: { params: idParams, response: { 200: invitationView } } },
      async (req) => c.members.revokeInvitation(req.principal.workspaceId, req.params.id, memberActorOf(req)),
    );

    app.patch(
      '/v1/members/:id',
      {
        config: access.to('members.manage'),
        schema: {
          params: memberParams,
          body: z.strictObject({ role: z.string().min(1).max(20) }),
          response: { 200: memberView },
        },
      },
      async (req) => c.members.setRole(req.principal.workspaceId, req.params.id, req.body.role, memberActorOf(req)),
    );

    app.delete(
      '/v1/members/:id',
      { config: access.to('members.manage'), schema: { params: memberParams, response: { 200: memberView } } },
      async (req) => c.members.remove(req.principal.workspaceId, req.params.id, memberActorOf(req)),
    );

    app.delete(
      '/v1/members/:id/sessions',
      {
        config: access.to('members.manage'),
        schema: { params: memberParams, response: { 200: z.object({ ended: z.number() }) } },
      },
      async (req) => c.members.endSessions(req.principal.workspaceId, req.params.id, memberActorOf(req)),
    );
  };
