import { timingSafeEqual } from 'node:crypto';
import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../errors.js';
import type { ApiKeys, KeyPrincipal } from '../modules/api-keys/api-keys.js';
import type { AuthFailureLimit } from '../modules/api-keys/failure-limit.js';
import type { Members } from '../modules/operators/members.js';
import {
  isPermission,
  PERMISSIONS,
  roleHas,
  scopesHave,
  type Permission,
  type Role,
} from '../modules/operators/permissions.js';
import type { ActiveSession, Sessions } from '../modules/operators/sessions.js';
import type { MembershipRow, SessionKind } from '../store/operators.js';

/**
 * Who may call a route, declared by every route in its options (`config: access.to('emails.read')`):
 * a permission of the permission table, `signed_in` (any person or key), `public` (no credential:
 * health, sign-in) or `sns` (no credential: the SNS signature is verified by the route instead).
 */
export type Access = Permission | 'signed_in' | 'public' | 'sns';

export const access = {
  to: (p: Permission) => ({ access: p as Access }),
  signedIn: { access: 'signed_in' as Access },
  public: { access: 'public' as Access },
  sns: { access: 'sns' as Access },
};

export const SESSION_COOKIE = 'sesame_session';
export const CSRF_HEADER = 'sesame-csrf';
export const WORKSPACE_HEADER = 'sesame-workspace';
/** The console's chosen workspace (a header, when sent, wins). */
export const WORKSPACE_COOKIE = 'sesame_workspace';

export type Principal =
  | (KeyPrincipal & { kind: 'api_key'; actor: string })
  | {
      kind: 'member';
      actor: string;
      workspaceId: string;
      workspaceName: string;
      role: Role;
      userId: string;
      email: string;
      sessionId: string;
      sessionKind: SessionKind;
      csrfToken: string;
      expiresAt: string;
      memberships: MembershipRow[];
      /** Authenticated by the browser cookie (so CSRF rules apply). */
      viaCookie: boolean;
    };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
  interface FastifyContextConfig {
    access?: Access;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const sameSecret = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The permission a refused request lacked, said the same way for people and keys. */
function refusal(p: Permission, principal: Principal): AppError {
  const def = PERMISSIONS[p];
  if (principal.kind === 'member')
    return new AppError(
      'forbidden',
      `Your role in workspace ${principal.workspaceName} (${principal.role}) does not allow ${p}.`,
      {
        hint: `It needs one of the roles ${def.roles.join(', ')}; ask an owner or admin of the workspace.`,
        details: { permission: p, role: principal.role },
      },
    );
  return new AppError('forbidden', `This API key may not ${p} (it lacks the ${def.scope} scope).`, {
    hint: `Use a key with the ${def.scope} scope, or give this key the scope (PATCH /v1/api-keys/:id, sesame api-keys update).`,
    details: { permission: p, scope: def.scope },
  });
}

/**
 * Authentication and authorisation, in one place. Every route must declare its access (a route
 * without one stops the server from starting). Credentials: an API key or a CLI session
 * (`Authorization: Bearer`), or the browser's session cookie; each request re-reads the key, the
 * session and the member's role, so revocation, sign-out and role changes apply at once. Requests
 * that change state with the cookie must carry the session's CSRF token and come from this origin.
 */
export function installAuth(
  app: FastifyInstance,
  deps: {
    apiKeys: Pick<ApiKeys, 'authenticate'>;
    sessions: Pick<Sessions, 'authenticate'>;
    members: Pick<Members, 'memberships'>;
    limit: Pick<AuthFailureLimit, 'retryAfterMs' | 'fail' | 'max' | 'windowMs'>;
    /** The id of a workspace's connection named by id or name (for keys limited to some connections). */
    connectionId: (workspaceId: string, ref: string) => Promise<string | undefined>;
    /** This server's public URL, if configured (its origin is accepted besides the request's own). */
    publicUrl?: string | undefined;
  },
): void {
  const { limit } = deps;
  app.decorateRequest('principal', null as never);
  app.addHook('onRoute', (r) => {
    const a = (r.config as { access?: string } | undefined)?.access;
    if (a === undefined || !(isPermission(a) || ['signed_in', 'public', 'sns'].includes(a)))
      throw new Error(
        `Route ${String(r.method)} ${r.url} declares no access (config: access.to('<permission>'), access.signedIn, access.public or access.sns).`,
      );
  });

  async function member(
    token: string,
    viaCookie: boolean,
    req: FastifyRequest,
  ): Promise<Extract<Principal, { kind: 'member' }>> {
    const { session, user } = await deps.sessions.authenticate(token);
    const memberships = await deps.members.memberships(user.id);
    if (memberships.length === 0)
      throw new AppError('not_a_member', `${user.email} is no longer a member of any workspace here.`);
    const asked = req.headers[WORKSPACE_HEADER];
    const want = typeof asked === 'string' && asked !== '' ? asked : undefined;
    // The console's choice is a preference: a workspace the person has left falls back to the default.
    const chosen = viaCookie ? req.cookies[WORKSPACE_COOKIE] : undefined;
    const m = want
      ? memberships.find((x) => x.workspaceId === want || x.workspaceName === want)
      : (memberships.find((x) => x.workspaceId === chosen) ??
        memberships.find((x) => x.workspaceName === 'default') ??
        memberships[0]!);
    if (!m)
      throw new AppError('not_a_member', `${user.email} is not a member of workspace ${want}.`, {
        hint: `Your workspaces: ${memberships.map((x) => x.workspaceName).join(', ')}.`,
      });
    return {
      kind: 'member',
      actor: `member:${user.email}`,
      workspaceId: m.workspaceId,
      workspaceName: m.workspaceName,
      role: m.role,
      userId: user.id,
      email: user.email,
      sessionId: session.id,
      sessionKind: session.kind,
      csrfToken: session.csrfToken,
      expiresAt: session.expiresAt,
      memberships,
      viaCookie,
    };
  }

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    // Decide on the route that matched (the router decodes the path), never on the raw URL.
    if (req.routeOptions.url === undefined) return;
    const declared = req.routeOptions.config.access;
    if (declared === 'public' || declared === 'sns') return;
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
    const bearer = header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
    const cookie = req.cookies?.[SESSION_COOKIE];
    try {
      if (bearer?.startsWith('sesc_')) req.principal = await member(bearer, false, req);
      else if (bearer !== undefined || !cookie) {
        const key = await deps.apiKeys.authenticate(bearer);
        req.principal = { ...key, kind: 'api_key', actor: `api_key:${key.prefix}` };
      } else req.principal = await member(cookie, true, req);
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
    const p = req.principal;
    if (declared !== undefined && declared !== 'signed_in') {
      const allowed = p.kind === 'member' ? roleHas(p.role, declared) : scopesHave(p.scopes, declared);
      if (!allowed) throw refusal(declared, p);
    }
    if (p.kind === 'member' && p.viaCookie && !SAFE_METHODS.has(req.method)) {
      // Same origin: the Origin a browser sends must be this server as the request reached it.
      const origin = req.headers.origin;
      if (origin !== undefined && !ownOrigins(req, deps.publicUrl).includes(origin))
        throw new AppError('csrf_failed', `A request from ${origin} may not act with this session.`);
    }
  });

  // After the body is parsed: the CSRF token may come in a form field (pages without scripts).
  app.addHook('preHandler', async (req: FastifyRequest) => {
    const p = req.principal as Principal | null;
    if (!p) return;
    if (p.kind === 'member' && p.viaCookie && !SAFE_METHODS.has(req.method)) {
      const h = req.headers[CSRF_HEADER];
      const body = req.body as { csrf?: unknown } | undefined;
      const presented = typeof h === 'string' ? h : typeof body?.csrf === 'string' ? body.csrf : '';
      if (!presented || !sameSecret(presented, p.csrfToken))
        throw new AppError('csrf_failed', 'This request carries no valid CSRF token for the session.');
    }
    // A key limited to some connections may act on those only.
    const params = req.params as { id?: unknown } | undefined;
    if (
      p.kind === 'api_key' &&
      p.connectionIds !== null &&
      req.routeOptions.url?.startsWith('/v1/connections/:id') &&
      typeof params?.id === 'string'
    ) {
      // Fails closed: a reference that names no connection is refused too.
      const id = await deps.connectionId(p.workspaceId, params.id);
      if (id === undefined || !p.connectionIds.includes(id))
        throw new AppError('forbidden', `This API key may not use connection ${params.id}.`, {
          hint: "Use a key allowed on this connection, or add it to the key's connections (PATCH /v1/api-keys/:id).",
          details: { connectionId: id },
        });
    }
  });
}

/** This server's origin as the request reached it, and its configured public URL's. */
const ownOrigins = (req: FastifyRequest, publicUrl: string | undefined): string[] => [
  `${req.protocol}://${req.host}`,
  ...(publicUrl ? [new URL(publicUrl).origin] : []),
];

/**
 * For public routes that set a session (a one-time link's form): refuse a request another site's
 * page made the browser send, so nobody can sign a victim in as themselves (login CSRF).
 */
export function requireSameSite(req: FastifyRequest, publicUrl: string | undefined): void {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  const own = [`${req.protocol}://${req.host}`, ...(publicUrl ? [new URL(publicUrl).origin] : [])];
  if (
    (typeof site === 'string' && site !== 'same-origin' && site !== 'none') ||
    (origin !== undefined && !own.includes(origin))
  )
    throw new AppError('csrf_failed', 'This sign-in was sent from another site.');
}

/**
 * The live session of the browser's cookie, or undefined when there is none or it has ended: for
 * public pages that show more to a signed-in person. Failures other than a refused session propagate.
 */
export async function cookieSession(
  req: FastifyRequest,
  sessions: Pick<Sessions, 'authenticate'>,
): Promise<ActiveSession | undefined> {
  const token = req.cookies[SESSION_COOKIE];
  if (!token) return undefined;
  try {
    return await sessions.authenticate(token);
  } catch (e) {
    if (isAppError(e)) return undefined;
    throw e;
  }
}

export const actorOf = (req: FastifyRequest): string => {
  if (!req.principal) throw new AppError('unauthorized', 'A valid API key or session is required.');
  return req.principal.actor;
};

/** The member or key as an actor of member management (keys with the admin scope act as admins). */
export const memberActorOf = (req: FastifyRequest): { label: string; role: Role } => {
  const p = req.principal;
  return { label: p.actor, role: p.kind === 'member' ? p.role : 'admin' };
};
