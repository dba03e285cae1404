import type { ApiError } from './api.js';
import { html, qs, type Html } from './html.js';

/** An error exactly as the API gives it: code, message and hint. */
export const errorBox = (e: ApiError | undefined): Html =>
  e
    ? html`<div class="error" role="alert" data-testid="error">
        <p><code data-testid="error-code">${e.code}</code> ${e.message}</p>
        ${e.hint ? html`<p class="hint" data-testid="error-hint">${e.hint}</p>` : ''}
      </div>`
    : html``;

export type Tone = 'good' | 'warn' | 'bad' | 'neutral' | 'info';

const TONES: Record<string, Tone> = {
  pass: 'good',
  active: 'good',
  verified: 'good',
  delivered: 'good',
  confirmed: 'good',
  proven: 'good',
  ok: 'good',
  success: 'good',
  sent: 'info',
  queued: 'neutral',
  scheduled: 'neutral',
  sending: 'info',
  untested: 'warn',
  warn: 'warn',
  pending: 'warn',
  pending_role: 'warn',
  pending_update: 'warn',
  pending_confirmation: 'warn',
  unproven: 'warn',
  different: 'warn',
  delayed: 'warn',
  skip: 'neutral',
  fail: 'bad',
  failing: 'bad',
  failed: 'bad',
  unsafe: 'bad',
  missing: 'bad',
  bounced: 'bad',
  complained: 'bad',
  rejected: 'bad',
  suppressed: 'bad',
  canceled: 'neutral',
  cancelled: 'neutral',
  paused: 'bad',
};

/** A status as a word with its colour (the word carries the meaning; colour only helps). */
export const badge = (status: string, tone?: Tone): Html =>
  html`<span class="badge ${tone ?? TONES[status] ?? 'neutral'}">${status.replace(/_/g, ' ')}</span>`;

/** A value to copy: shown in full, selectable, with a copy button the script enables. */
export const copyable = (value: string, label: string, testid?: string): Html =>
  html`<span class="copy"><code${testid ? html` data-testid="${testid}"` : ''}>${value}</code><button type="button" class="copy-btn" data-copy="${value}" aria-label="Copy ${label}" hidden>Copy</button></span>`;

/** A form that changes something: a POST to the console with the session's CSRF token. */
export function action(o: {
  action: string;
  csrf: string;
  label: string;
  fields?: Record<string, string>;
  danger?: boolean;
  /** Asks the browser to confirm first (the script does; without it the post goes straight through). */
  confirm?: string;
  testid?: string;
}): Html {
  const hidden = Object.entries(o.fields ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`);
  return html`<form
    method="post"
    action="${o.action}"
    class="inline"
    ${o.confirm ? html` data-confirm="${o.confirm}"` : ''}
  >
    <input type="hidden" name="csrf" value="${o.csrf}" />${hidden}
    <button type="submit" ${o.danger ? html` class="danger"` : ''}${o.testid ? html` data-testid="${o.testid}"` : ''}>
      ${o.label}
    </button>
  </form>`;
}

/** Definition list of label → value pairs (values already markup or text). */
export const facts = (rows: ReadonlyArray<readonly [string, Html | string | number | null | undefined]>): Html =>
  html`<dl class="facts">
    ${rows.map(
      ([k, v]) =>
        html`<dt>${k}</dt>
          <dd>${v ?? html`<span class="muted">—</span>`}</dd>`,
    )}
  </dl>`;

/** A table that scrolls sideways on narrow screens instead of overflowing the page. */
export function table(o: {
  caption: string;
  head: readonly string[];
  rows: readonly (readonly (Html | string | number | null | undefined)[])[];
  empty: string;
  testid?: string;
}): Html {
  if (o.rows.length === 0)
    return html`<p class="empty" ${o.testid ? html` data-testid="${o.testid}"` : ''}>${o.empty}</p>`;
  return html`<div class="table-wrap" role="region" aria-label="${o.caption}" tabindex="0"><table${o.testid ? html` data-testid="${o.testid}"` : ''}>
<caption class="visually-hidden">${o.caption}</caption>
<thead><tr>${o.head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${o.rows.map(
    (r) =>
      html`<tr>
        ${r.map((c) => html`<td>${c ?? ''}</td>`)}
      </tr>`,
  )}</tbody>
</table></div>`;
}

/** "Next page" for cursor-paged lists: only what is shown is loaded. */
export const pager = (
  path: string,
  params: Record<string, string | undefined>,
  next: string | null | undefined,
): Html =>
  html`<nav class="pager" aria-label="Pages">
    ${params.cursor ? html`<a href="${path}${qs({ ...params, cursor: undefined })}">First page</a>` : ''}${next ? html`<a href="${path}${qs({ ...params, cursor: next })}" rel="next">Next page</a>` : ''}
  </nav>`;

/** A time as stored (ISO, UTC), readable and machine-readable. */
export const when = (iso: string | null | undefined): Html =>
  iso
    ? html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')}</time>`
    : html`<span class="muted">never</span>`;

export const heading = (title: string, actions?: Html): Html =>
  html`<div class="page-head">
    <h1>${title}</h1>
    ${actions ? html`<div class="actions">${actions}</div>` : ''}
  </div>`;
