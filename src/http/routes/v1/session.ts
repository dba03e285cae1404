import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import { AppError, isAppError } from '../../../errors.js';
import { isLoopbackRedirect, safeNext, type SignedIn } from '../../../modules/operators/sign-in.js';
import { ROLES } from '../../../modules/operators/permissions.js';
import { access, actorOf, cookieSession, requireSameSite, SESSION_COOKIE } from '../../auth.js';
import { acceptForms, cliApprovalPage, PAGE_CSP, signOut } from '../../pages.js';

const OIDC_STATE_COOKIE = 'sesame_oidc';

const sessionView = z.union([
  z.object({
    kind: z.literal('member'),
    email: z.string(),
    role: z.enum(ROLES),
    workspace: z.object({ id: z.string(), name: z.string() }),
    workspaces: z.array(z.object({ id: z.string(), name: z.string(), role: z.enum(ROLES) })),
    expiresAt: z.string(),
    sessionKind: z.enum(['browser', 'cli']),
    /** For requests made with the cookie: send it back in the sesame-csrf header. */
    csrfToken: z.string().optional(),
  }),
  z.object({
    kind: z.literal('api_key'),
    apiKey: z.object({
      id: z.string(),
      prefix: z.string(),
      name: z.string(),
      scopes: z.array(z.string()),
      connectionIds: z.array(z.string()).nullable(),
    }),
    workspace: z.object({ id: z.string(), name: z.string() }),
  }),
]);

const cliParams = z.object({
  redirect_uri: z.string().max(2000),
  state: z.string().min(8).max(500),
  code_challenge: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url SHA-256 (43 characters)'),
  code_challenge_method: z.literal('S256'),
});

/** Secure cookies when the server is reached over HTTPS (directly or through a trusted proxy). */
export const isHttps = (req: FastifyRequest, publicUrl: string | undefined): boolean =>
  req.protocol === 'https' || (publicUrl?.startsWith('https://') ?? false);

export function setSessionCookie(
  reply: FastifyReply,
  req: FastifyRequest,
  c: Pick<Container, 'config'>,
  s: { token: string; expiresAt: string },
  nowMs: number,
): void {
  void reply.setCookie(SESSION_COOKIE, s.token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: isHttps(req, c.config.publicUrl),
    path: '/',
    maxAge: Math.max(0, Math.floor((Date.parse(s.expiresAt) - nowMs) / 1000)),
  });
}

/** Sign-in errors on pages go back to the sign-in page, which shows the code, message and hint. */
function toSignInPage(reply: FastifyReply, e: unknown): FastifyReply {
  const code = isAppError(e) ? e.code : 'internal_error';
  return reply.redirect(`/sign-in?error=${encodeURIComponent(code)}`, 303);
}

/**
 * Sessions of people: who am I, sign out, workspaces, and the sign-in flows (OIDC, one-time
 * links, `sesame login` in the browser).
 */
export const sessionRoutes =
  (
    c: Pick<Container, 'signIn' | 'sessions' | 'members' | 'workspaces' | 'audit' | 'config' | 'clock' | 'logger'>,
  ): FastifyPluginAsyncZod =>
  async (app) => {
    // The one-time link page and the CLI approval page post plain forms.
    acceptForms(app as unknown as FastifyInstance);
    app.get('/v1/session', { config: access.signedIn, schema: { response: { 200: sessionView } } }, async (req) => {
      const p = req.principal;
      const workspace = { id: p.workspaceId, name: (await c.workspaces.get(p.workspaceId)).name };
      if (p.kind === 'api_key')
        return {
          kind: 'api_key' as const,
          apiKey: { id: p.apiKeyId, prefix: p.prefix, name: p.name, scopes: p.scopes, connectionIds: p.connectionIds },
          workspace,
        };
      return {
        kind: 'member' as const,
        email: p.email,
        role: p.role,
        workspace,
        workspaces: p.memberships.map((m) => ({ id: m.workspaceId, name: m.workspaceName, role: m.role })),
        expiresAt: p.expiresAt,
        sessionKind: p.sessionKind,
        ...(p.viaCookie ? { csrfToken: p.csrfToken } : {}),
      };
    });

    app.delete('/v1/session', { config: access.signedIn }, async (req, reply) => {
      const p = req.principal;
      await signOut(c, p);
      if (p.kind === 'member' && p.viaCookie) void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.status(204).send();
    });

    app.get(
      '/v1/workspaces',
      {
        config: access.signedIn,
        schema: {
          response: {
            200: z.object({
              data: z.array(
                z.object({ id: z.string(), name: z.string(), createdAt: z.string(), role: z.enum(ROLES).optional() }),
              ),
            }),
          },
        },
      },
      async (req) => {
        const p = req.principal;
        if (p.kind === 'api_key') return { data: [await c.workspaces.get(p.workspaceId)] };
        const all = await Promise.all(
          p.memberships.map(async (m) => ({ ...(await c.workspaces.get(m.workspaceId)), role: m.role })),
        );
        return { data: all };
      },
    );

    app.post(
      '/v1/workspaces',
      {
        config: access.to('workspaces.manage'),
        schema: {
          body: z.strictObject({ name: z.string().min(1).max(63) }),
          response: { 201: z.object({ id: z.string(), name: z.string(), createdAt: z.string() }) },
        },
      },
      async (req, reply) => {
        const p = req.principal;
        if (p.kind !== 'member')
          throw new AppError('forbidden', 'An API key acts in its own workspace only and cannot create workspaces.', {
            hint: 'Sign in as an owner (sesame login) to create a workspace.',
          });
        const w = await c.workspaces.create(req.body.name, actorOf(req));
        await c.members.addOwner(w.id, p.email, actorOf(req));
        return reply.status(201).send(w);
      },
    );

    app.get(
      '/v1/auth/providers',
      {
        config: access.public,
        schema: {
          response: {
            200: z.object({
              providers: z.array(z.object({ id: z.string(), name: z.string(), startUrl: z.string() })),
            }),
          },
        },
      },
      async () => ({ providers: c.signIn.providers() }),
    );

    app.get(
      '/v1/auth/oidc/start',
      { config: access.public, schema: { querystring: z.object({ next: z.string().max(2000).optional() }) } },
      async (req, reply) => {
        try {
          const { url, state } = await c.signIn.oidcStart(req.query.next);
          // Binds the login to this browser: the callback must come back to the one that started it.
          void reply.setCookie(OIDC_STATE_COOKIE, state, {
            httpOnly: true,
            sameSite: 'lax',
            secure: isHttps(req, c.config.publicUrl),
            path: '/v1/auth/oidc',
            maxAge: 600,
          });
          return reply.redirect(url, 302);
        } catch (e) {
          return toSignInPage(reply, e);
        }
      },
    );

    app.get('/v1/auth/oidc/callback', { config: access.public }, async (req, reply) => {
      void reply.clearCookie(OIDC_STATE_COOKIE, { path: '/v1/auth/oidc' });
      try {
        const url = new URL(req.url, 'http://callback.invalid');
        const s = await c.signIn.oidcCallback(url, req.cookies[OIDC_STATE_COOKIE]);
        setSessionCookie(reply, req, c, s, c.clock.ms());
        return reply.redirect(s.next, 303);
      } catch (e) {
        return toSignInPage(reply, e);
      }
    });

    // The one-time link's page posts here (a GET would be spent by mail scanners and previews).
    app.post(
      '/v1/auth/link',
      {
        config: access.public,
        schema: { body: z.object({ token: z.string().min(1).max(200), next: z.string().max(2000).optional() }) },
      },
      async (req, reply) => {
        let s: SignedIn;
        try {
          requireSameSite(req, c.config.publicUrl);
          s = await c.signIn.signInWithLink(req.body.token);
        } catch (e) {
          if (req.headers['content-type']?.startsWith('application/json')) throw e;
          return toSignInPage(reply, e);
        }
        setSessionCookie(reply, req, c, s, c.clock.ms());
        if (req.headers['content-type']?.startsWith('application/json'))
          return reply.status(200).send({ email: s.user.email, expiresAt: s.expiresAt });
        return reply.redirect(safeNext(req.body.next), 303);
      },
    );

    // `sesame login`: the browser (signed in, or sent to sign in first) approves the CLI.
    app.get(
      '/v1/auth/cli/authorize',
      { config: access.public, schema: { querystring: cliParams } },
      async (req, reply) => {
        if (!isLoopbackRedirect(req.query.redirect_uri))
          throw new AppError(
            'validation_failed',
            'redirect_uri must be a loopback address (http://127.0.0.1:<port>/...).',
            {
              details: { field: 'redirect_uri' },
            },
          );
        const who = await cookieSession(req, c.sessions);
        if (!who) return reply.redirect(`/sign-in?next=${encodeURIComponent(req.url)}`, 303);
        const origin = new URL(req.query.redirect_uri).origin;
        return reply
          .header('content-security-policy', PAGE_CSP.replace("form-action 'self'", `form-action 'self' ${origin}`))
          .header('referrer-policy', 'same-origin')
          .type('text/html; charset=utf-8')
          .send(cliApprovalPage({ email: who.user.email, csrf: who.session.csrfToken, params: req.query }));
      },
    );

    app.post(
      '/v1/auth/cli/approve',
      {
        config: access.signedIn,
        schema: {
          body: cliParams.extend({ csrf: z.string().optional(), decision: z.enum(['approve', 'deny']) }),
        },
      },
      async (req, reply) => {
        const p = req.principal;
        if (p.kind !== 'member' || !p.viaCookie)
          throw new AppError('forbidden', 'Only a person signed in in the browser can approve a CLI sign-in.');
        if (!isLoopbackRedirect(req.body.redirect_uri))
          throw new AppError('validation_failed', 'redirect_uri must be a loopback address.', {
            details: { field: 'redirect_uri' },
          });
        if (req.body.decision === 'deny') {
          const u = new URL(req.body.redirect_uri);
          u.searchParams.set('error', 'access_denied');
          u.searchParams.set('state', req.body.state);
          return reply.redirect(u.href, 303);
        }
        const user = { id: p.userId, email: p.email, createdAt: '', lastSignInAt: null };
        const to = await c.signIn.cliApprove(user, {
          redirectUri: req.body.redirect_uri,
          state: req.body.state,
          codeChallenge: req.body.code_challenge,
        });
        return reply.redirect(to, 303);
      },
    );

    app.post(
      '/v1/auth/cli/token',
      {
        config: access.public,
        schema: {
          body: z.strictObject({
            code: z.string().min(1).max(200),
            codeVerifier: z.string().min(43).max(128),
            redirectUri: z.string().max(2000),
          }),
          response: { 200: z.object({ token: z.string(), expiresAt: z.string(), email: z.string() }) },
        },
      },
      async (req) => {
        const s = await c.signIn.cliToken(req.body.code, req.body.codeVerifier, req.body.redirectUri);
        return { token: s.token, expiresAt: s.expiresAt, email: s.user.email };
      },
    );
  };
