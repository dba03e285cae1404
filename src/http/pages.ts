import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Container } from '../container.js';
import { CATALOGUE, type ErrorCode } from '../errors.js';
import { safeNext } from '../modules/operators/sign-in.js';
import { access, SESSION_COOKIE, type Principal } from './auth.js';

/** Pages carry no script and load nothing from elsewhere; forms post only to this origin. */
export const PAGE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1d4ed8"/><path d="M9 20c0 2.5 2.7 4 7 4s7-1.6 7-4.2c0-5.6-13-3.2-13-8.3C10 9.3 12.5 8 16 8s6 1.4 6.5 3.7" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round"/></svg>`;

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

const CSS = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: Canvas; color: CanvasText; }
main { box-sizing: border-box; width: min(28rem, calc(100vw - 2rem)); padding: 2rem; border: 1px solid GrayText; border-radius: 0.5rem; }
h1 { font-size: 1.4rem; margin-top: 0; }
.button, button { display: inline-block; padding: 0.6rem 1rem; border-radius: 0.35rem; border: 1px solid GrayText;
  background: ButtonFace; color: ButtonText; font: inherit; text-decoration: none; cursor: pointer; }
.primary { background: #1d4ed8; color: #fff; border-color: #1d4ed8; }
.error { border-left: 4px solid #b91c1c; padding: 0.5rem 0.75rem; margin: 1rem 0; }
.error code { font-weight: bold; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; }
dt { color: GrayText; }
a:focus-visible, button:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }
`;

/** What a sign-in error says on the page (the code comes back in the address, never free text). */
const SIGN_IN_MESSAGES: Partial<Record<ErrorCode, string>> = {
  not_a_member: 'This account is not a member of any workspace of this Sesame.',
  oidc_email_unverified: 'Your identity provider has not verified your email address.',
  oidc_domain_not_allowed: "Your account's email domain is not allowed to sign in here.",
  oidc_failed: 'The sign-in with your identity provider did not complete or did not validate.',
  oidc_not_configured: 'No identity provider is configured.',
  sign_in_link_invalid: 'This sign-in link is not valid: it was used already, has expired or was mistyped.',
  session_expired: 'Your session has ended.',
};

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Sesame</title>
<link rel="stylesheet" href="/assets/sesame.css">
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function errorBlock(code: string | undefined): string {
  if (!code || !Object.hasOwn(CATALOGUE, code)) return '';
  const c = code as ErrorCode;
  const message = SIGN_IN_MESSAGES[c] ?? 'Signing in did not work.';
  return `<div class="error" role="alert"><p><code>${esc(c)}</code>: ${esc(message)}</p><p>${esc(CATALOGUE[c].hint)}</p></div>`;
}

/** Pages post plain forms (no script): urlencoded bodies, small, accepted only by the routes of a plugin that calls this. */
export function acceptForms(app: FastifyInstance): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 16 * 1024 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  );
}

/** End the caller's own session (a key has none: it stays valid until revoked), audited. */
export async function signOut(c: Pick<Container, 'sessions' | 'audit'>, p: Principal): Promise<void> {
  if (p.kind !== 'member') return;
  await c.sessions.end(p.sessionId, 'signed_out');
  for (const m of p.memberships)
    await c.audit.record({
      workspaceId: m.workspaceId,
      actor: p.actor,
      action: 'auth.signed_out',
      details: { sessionId: p.sessionId, sessionKind: p.sessionKind },
    });
}

export function cliApprovalPage(o: {
  email: string;
  csrf: string;
  params: { redirect_uri: string; state: string; code_challenge: string; code_challenge_method: string };
}): string {
  const hidden = Object.entries({ ...o.params, csrf: o.csrf })
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('\n');
  return page(
    'Approve CLI sign-in',
    `<h1>Sign in the Sesame CLI?</h1>
<p>A <code>sesame login</code> on this computer asks to act as <strong>${esc(o.email)}</strong>. Approve only if you just ran it.</p>
<form method="post" action="/v1/auth/cli/approve">
${hidden}
<button class="primary" type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  );
}

/**
 * The pages of signing in and out, served by Sesame itself: sign-in (the identity provider's
 * button; errors with their code and hint), the one-time link's confirmation, and the signed-in
 * page with the session and sign-out.
 */
export const pageRoutes =
  (c: Pick<Container, 'signIn' | 'sessions' | 'members' | 'audit'>) =>
  async (app: FastifyInstance): Promise<void> => {
    acceptForms(app);
    const html = (reply: FastifyReply, body: string) =>
      reply
        .header('content-security-policy', PAGE_CSP)
        // Forms then carry this origin in their Origin header (no-referrer would make it "null").
        .header('referrer-policy', 'same-origin')
        .type('text/html; charset=utf-8')
        .send(body);

    app.get('/assets/sesame.css', { config: access.public }, async (_req, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(CSS),
    );

    app.get('/assets/icon.svg', { config: access.public }, async (_req, reply) =>
      reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(ICON),
    );
    // Browsers ask for it whatever the page says.
    app.get('/favicon.ico', { config: access.public }, async (_req, reply) => reply.redirect('/assets/icon.svg', 301));

    app.get<{ Querystring: { error?: string; next?: string } }>(
      '/sign-in',
      { config: access.public },
      async (req, reply) => {
        const next = safeNext(req.query.next);
        const buttons = c.signIn
          .providers()
          .map(
            (p) =>
              `<p><a class="button primary" href="${esc(p.startUrl)}?next=${esc(encodeURIComponent(next))}">Sign in with ${esc(p.name)}</a></p>`,
          )
          .join('\n');
        return html(
          reply,
          page(
            'Sign in',
            `<h1>Sign in to Sesame</h1>
${errorBlock(req.query.error)}
${buttons || '<p>No identity provider is configured. Ask an administrator for a one-time sign-in link (<code>sesame admin sign-in-link &lt;email&gt;</code> on the server).</p>'}`,
          ),
        );
      },
    );

    app.get<{ Querystring: { token?: string } }>('/sign-in/link', { config: access.public }, async (req, reply) => {
      const token = typeof req.query.token === 'string' ? req.query.token : '';
      return html(
        reply,
        page(
          'Sign in',
          `<h1>Sign in to Sesame</h1>
<p>This one-time link signs you in once, within 15 minutes of being made.</p>
<form method="post" action="/v1/auth/link">
<input type="hidden" name="token" value="${esc(token)}">
<button class="primary" type="submit">Sign in</button>
</form>`,
        ),
      );
    });

    app.post('/sign-out', { config: access.signedIn }, async (req, reply) => {
      await signOut(c, req.principal);
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.redirect('/sign-in', 303);
    });
  };
