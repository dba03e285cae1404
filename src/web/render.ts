import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, CATALOGUE, type ErrorCode } from '../errors.js';
import type { ApiError, ApiResult } from './api.js';
import { html, type Html } from './html.js';
import { memberOf, shell } from './layout.js';
import { errorBox, heading } from './ui.js';

/**
 * Console pages load scripts and styles from this origin only (no inline script or style), send
 * forms only here, and may not be framed.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function sendHtml(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply
    .status(status)
    .header('content-security-policy', CONSOLE_CSP)
    .header('referrer-policy', 'same-origin')
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(body);
}

/** Draw a console page for the signed-in person. */
export function render(
  req: FastifyRequest,
  reply: FastifyReply,
  page: {
    title: string;
    section: string;
    body: Html;
    status?: number;
    /** The page's own confirmations, by the `done` word its changes redirect with. */
    notices?: Record<string, string>;
  },
): FastifyReply {
  const done = (req.query as { done?: unknown } | undefined)?.done;
  const notice =
    typeof done !== 'string'
      ? undefined
      : page.notices && Object.hasOwn(page.notices, done)
        ? page.notices[done]
        : Object.hasOwn(NOTICES, done)
          ? NOTICES[done]
          : undefined;
  return sendHtml(
    reply,
    shell({
      title: page.title,
      section: page.section,
      member: memberOf(req),
      body: page.body,
      notice,
    }),
    page.status,
  );
}

/** Confirmations after a change, named in the address the change redirects to (never free text). */
const NOTICES: Record<string, string> = {
  saved: 'Saved.',
  created: 'Created.',
  removed: 'Removed.',
  canceled: 'The email was canceled.',
  retried: 'The email was queued again.',
  sent: 'The email was accepted and queued.',
  verified: 'Checked again.',
  revoked: 'Revoked.',
  invited: 'Invitation sent.',
  wired: 'Events wired.',
  rotated: 'Rotated.',
  imported: 'Imported.',
  redelivered: 'Queued for delivery again.',
  tested: 'Test event queued.',
  resumed: 'Resumed.',
  disconnected: 'The connection was removed.',
  sessions_ended: 'Sessions ended.',
};

/** A page that could not load its data shows the API's error, nothing else. */
export function failed(
  req: FastifyRequest,
  reply: FastifyReply,
  o: { title: string; section: string; error: ApiError; status: number },
): FastifyReply {
  return render(req, reply, {
    title: o.title,
    section: o.section,
    status: o.status,
    body: html`${heading(o.title)}${errorBox(o.error)}`,
  });
}

/** The data of an API answer, or an AppError carrying the API's own code, message and hint. */
export function need<T>(r: ApiResult<T>): T {
  if (r.ok) return r.data;
  const code = (Object.hasOwn(CATALOGUE, r.error.code) ? r.error.code : 'internal_error') as ErrorCode;
  throw new AppError(code, r.error.message, {
    hint: r.error.hint,
    status: r.status,
    ...(r.error.details ? { details: r.error.details } : {}),
  });
}

/** A form's fields: one value each, or every value of a repeated field (checkboxes). */
export type Form = Record<string, string | string[]>;

export const field = (f: unknown, name: string): string => {
  const v = (f as Form | undefined)?.[name];
  return typeof v === 'string' ? v.trim() : Array.isArray(v) ? (v[0] ?? '').trim() : '';
};

export const fields = (f: unknown, name: string): string[] => {
  const v = (f as Form | undefined)?.[name];
  return v === undefined ? [] : ([v].flat() as string[]).map((s) => s.trim()).filter(Boolean);
};
