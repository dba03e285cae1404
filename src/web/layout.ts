import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { Principal } from '../http/auth.js';
import { roleHas, type Permission } from '../modules/operators/permissions.js';
import { html, type Html } from './html.js';

export type Member = Extract<Principal, { kind: 'member' }>;

/** What the signed-in person may do: pages show a control only when the API would accept it. */
export const can = (m: Member, p: Permission): boolean => roleHas(m.role, p);

export interface NavItem {
  href: string;
  label: string;
  needs: Permission;
  section: string;
}

export const NAV: readonly NavItem[] = [
  { href: '/', label: 'Overview', needs: 'analytics.read', section: 'overview' },
  { href: '/emails', label: 'Emails', needs: 'emails.read', section: 'emails' },
  { href: '/domains', label: 'Domains', needs: 'domains.read', section: 'domains' },
  { href: '/suppressions', label: 'Suppressions', needs: 'suppressions.read', section: 'suppressions' },
  { href: '/webhooks', label: 'Webhooks', needs: 'webhooks.read', section: 'webhooks' },
  { href: '/events-health', label: 'Events health', needs: 'connections.read', section: 'events-health' },
  { href: '/settings/aws', label: 'AWS Configuration', needs: 'connections.read', section: 'aws' },
  { href: '/settings/api-keys', label: 'API keys', needs: 'api_keys.read', section: 'api-keys' },
  { href: '/settings/members', label: 'Members', needs: 'members.read', section: 'members' },
  { href: '/audit', label: 'Audit log', needs: 'audit.read', section: 'audit' },
];

export interface Shell {
  title: string;
  /** NAV section this page belongs to (marked as current). */
  section: string;
  member: Member;
  body: Html;
  /** A short confirmation after a change (role=status). */
  notice?: string | undefined;
}

function nav(m: Member, section: string): Html {
  const items = NAV.filter((i) => can(m, i.needs)).map(
    (i) => html`<li><a href="${i.href}" ${i.section === section ? html` aria-current="page"` : ''}>${i.label}</a></li>`,
  );
  return html`<ul>
    ${items}
  </ul>`;
}

function workspaceSwitcher(m: Member): Html {
  if (m.memberships.length < 2) return html`<span class="ws" data-testid="workspace">${m.workspaceName}</span>`;
  const options = m.memberships.map(
    (w) =>
      html`<option value="${w.workspaceId}" ${w.workspaceId === m.workspaceId ? html` selected` : ''}>
        ${w.workspaceName} (${w.role})
      </option>`,
  );
  return html`<form method="post" action="/workspace" class="ws-form">
    <input type="hidden" name="csrf" value="${m.csrfToken}" />
    <label for="ws-select" class="visually-hidden">Workspace</label>
    <select id="ws-select" name="workspace">
      ${options}
    </select>
    <button type="submit">Switch</button>
  </form>`;
}

/** The page every console view is drawn in: header, navigation (a menu on narrow screens), content. */
export function shell(s: Shell): string {
  const m = s.member;
  return `<!doctype html>
${html`<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${s.title} · Sesame</title>
    <link rel="stylesheet" href="/assets/console.css" />
    <link rel="icon" href="/assets/icon.svg" type="image/svg+xml" />
    <script src="/assets/console.js" defer></script>
  </head>
  <body>
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="/"><img src="/assets/icon.svg" alt="" width="24" height="24" /> Sesame</a>
      ${workspaceSwitcher(m)}
      <details class="account">
        <summary>
          <span data-testid="email">${m.email}</span> <span class="role" data-testid="role">${m.role}</span>
        </summary>
        <div class="account-panel">
          <p>Workspaces and roles:</p>
          <ul data-testid="workspaces">
            ${m.memberships.map((w) => html`<li>${w.workspaceName}: ${w.role}</li>`)}
          </ul>
          <p class="muted">Session ends <time data-testid="expires" datetime="${m.expiresAt}">${m.expiresAt}</time></p>
          <form method="post" action="/sign-out">
            <input type="hidden" name="csrf" value="${m.csrfToken}" />
            <button type="submit">Sign out</button>
          </form>
        </div>
      </details>
    </header>
    <div class="frame">
      <nav aria-label="Console">
        <details class="menu" open>
          <summary>Menu</summary>
          ${nav(m, s.section)}
        </details>
      </nav>
      <main id="main" tabindex="-1">
        ${s.notice ? html`<div class="notice" role="status">${s.notice}</div>` : ''} ${s.body}
      </main>
    </div>
  </body>
</html> `}`;
}

/** The person the console is serving (console routes are for signed-in people only). */
export function memberOf(req: FastifyRequest): Member {
  const p = req.principal;
  if (p?.kind !== 'member')
    throw new AppError('unauthorized', 'The console is for people signed in with a browser; API keys call /v1.');
  return p;
}
