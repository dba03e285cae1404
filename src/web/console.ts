import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../errors.js';
import { access, SESSION_COOKIE, WORKSPACE_COOKIE } from '../http/auth.js';
import { consoleAssets } from './assets.js';
import { html } from './html.js';
import { errorBox, heading } from './ui.js';
import { field, render } from './render.js';
import { overviewPages } from './pages/overview.js';

/** Errors that mean "sign in (again)": a page answers them with the sign-in page, not an error. */
const SIGN_IN_AGAIN = new Set(['unauthorized', 'session_expired', 'not_a_member']);

/** Every page of the console; each module registers its routes, each route declares its access. */
const PAGES: ReadonlyArray<(app: FastifyInstance) => Promise<void> | void> = [overviewPages];

/**
 * The web console: server-drawn pages on the same origin as the API. Every page reads and changes
 * through `/v1` with the person's session (src/web/api.ts), and works without its script (which only
 * adds copy buttons, confirmations and live checks of what is typed).
 */
export const consoleRoutes = async (app: FastifyInstance): Promise<void> => {
  // Plain form posts; a repeated field (checkboxes) keeps all its values.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 2 * 1024 * 1024 },
    (_req, body, done) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of new URLSearchParams(String(body))) {
        const had = out[k];
        out[k] = had === undefined ? v : [had, v].flat();
      }
      done(null, out);
    },
  );

  app.setErrorHandler((err: Error, req: FastifyRequest, reply: FastifyReply) => {
    const e = isAppError(err)
      ? err
      : (req.log.error({ err }, 'console page failed'),
        new AppError('internal_error', 'Something went wrong on the server.'));
    // An API key on a console address: answered as the API answers.
    if (req.principal && req.principal.kind !== 'member')
      return reply.status(e.status).send({ error: e.toJSON(), requestId: req.id });
    if (SIGN_IN_AGAIN.has(e.code)) {
      // No cookie: simply not signed in yet. A cookie that no longer works: say why.
      const error = !req.cookies[SESSION_COOKIE] ? undefined : e.code === 'unauthorized' ? 'session_expired' : e.code;
      const q = new URLSearchParams({
        ...(error ? { error } : {}),
        ...(req.method === 'GET' && req.url !== '/' ? { next: req.url } : {}),
      }).toString();
      return reply.redirect(q ? `/sign-in?${q}` : '/sign-in', 303);
    }
    return render(req, reply, {
      title: 'Error',
      section: '',
      status: e.status,
      body: html`${heading(e.status === 403 ? 'Not allowed' : e.status === 404 ? 'Not found' : 'Something went wrong')}${errorBox(e.toJSON())}
        <p><a href="/">Back to the overview</a></p>`,
    });
  });

  await app.register(consoleAssets);

  app.post('/workspace', { config: access.signedIn }, async (req, reply) => {
    const ws = field(req.body, 'workspace');
    const p = req.principal;
    if (p.kind !== 'member' || !p.memberships.some((m) => m.workspaceId === ws))
      throw new AppError('not_a_member', 'You are not a member of that workspace.');
    void reply.setCookie(WORKSPACE_COOKIE, ws, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: req.protocol === 'https',
    });
    return reply.redirect('/', 303);
  });

  for (const pages of PAGES) await pages(app);
};
