import type { FastifyInstance } from 'fastify';
import { access } from '../http/auth.js';

/**
 * The console's stylesheet and its one script. The script only improves pages that work without
 * it: copy buttons, a confirmation before destructive posts, live checks of typed values, and the
 * menu folded on narrow screens.
 */
const CSS = `
:root { color-scheme: light; --fg: #16191f; --muted: #5b6270; --line: #d5d9e0; --bg: #f6f7f9; --card: #fff;
  --accent: #1d4ed8; --accent-fg: #fff; --good: #116329; --good-bg: #dcfce7; --warn: #7a4b00; --warn-bg: #fef3c7;
  --bad: #9f1239; --bad-bg: #ffe4e6; --info: #1e3a8a; --info-bg: #dbeafe; --neutral-bg: #eceef2;
  font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 15px; line-height: 1.45; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--card); padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.top { display: flex; align-items: center; gap: 1rem; padding: .5rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
.brand { display: inline-flex; align-items: center; gap: .4rem; font-weight: 700; color: var(--fg); text-decoration: none; font-size: 1.1rem; }
.ws, .ws-form { margin-left: auto; }
.ws-form { display: flex; gap: .4rem; }
.account { position: relative; }
.account summary { cursor: pointer; list-style: none; padding: .3rem .5rem; border-radius: .3rem; }
.account summary::-webkit-details-marker { display: none; }
.account-panel { position: absolute; right: 0; top: 2.2rem; background: var(--card); border: 1px solid var(--line); border-radius: .4rem;
  padding: .75rem 1rem; min-width: 16rem; z-index: 5; box-shadow: 0 6px 20px rgb(0 0 0 / 12%); }
.role { font-size: .8rem; background: var(--neutral-bg); border-radius: 1rem; padding: .05rem .5rem; }
.frame { display: grid; grid-template-columns: 13rem 1fr; min-height: calc(100vh - 3.2rem); }
nav[aria-label="Console"] { background: var(--card); border-right: 1px solid var(--line); padding: .75rem 0; }
.menu > summary { display: none; }
.menu ul { list-style: none; margin: 0; padding: 0; }
.menu a { display: block; padding: .45rem 1rem; color: var(--fg); text-decoration: none; border-left: 3px solid transparent; }
.menu a:hover { background: var(--bg); }
.menu a[aria-current="page"] { border-left-color: var(--accent); background: var(--info-bg); font-weight: 600; }
main { padding: 1.25rem 1.5rem 3rem; min-width: 0; max-width: 78rem; }
main:focus { outline: none; }
h1 { font-size: 1.45rem; margin: 0 0 .75rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
.page-head { display: flex; align-items: center; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem 1.1rem; margin: 0 0 1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .75rem; margin-bottom: 1rem; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem; }
.stat .n { font-size: 1.5rem; font-weight: 700; display: block; }
.stat .l { color: var(--muted); font-size: .85rem; }
.muted { color: var(--muted); }
.hint { color: var(--muted); }
.button, button { display: inline-block; padding: .45rem .9rem; border-radius: .35rem; border: 1px solid #aeb4bf; background: var(--card);
  color: var(--fg); font: inherit; text-decoration: none; cursor: pointer; line-height: 1.3; }
.button:hover, button:hover { background: var(--bg); }
.primary, button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-fg); }
.primary:hover, button.primary:hover { background: #1e40af; }
button.danger { border-color: var(--bad); color: var(--bad); }
form.inline { display: inline; }
.error { border: 1px solid var(--bad); border-left-width: 5px; background: var(--bad-bg); padding: .5rem .85rem; margin: .75rem 0; border-radius: .35rem; }
.error p { margin: .3rem 0; }
.error code { font-weight: 700; }
.notice { border-left: 5px solid var(--good); background: var(--good-bg); padding: .5rem .85rem; margin: 0 0 1rem; border-radius: .35rem; }
.warning { border-left: 5px solid #b45309; background: var(--warn-bg); padding: .5rem .85rem; margin: .75rem 0; border-radius: .35rem; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 1rem; font-size: .82rem; font-weight: 600; white-space: nowrap; }
.badge.good { background: var(--good-bg); color: var(--good); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.info { background: var(--info-bg); color: var(--info); }
.badge.neutral { background: var(--neutral-bg); color: var(--fg); }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: .5rem; margin: .5rem 0 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; background: #fafbfc; }
tr:last-child td { border-bottom: 0; }
td code, dd code { word-break: break-all; }
.empty { color: var(--muted); background: var(--card); border: 1px dashed var(--line); border-radius: .5rem; padding: 1rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.25rem; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.copy { display: inline-flex; align-items: center; gap: .4rem; flex-wrap: wrap; max-width: 100%; }
.copy code { background: var(--neutral-bg); padding: .1rem .35rem; border-radius: .25rem; overflow-wrap: anywhere; }
.copy-btn { padding: .1rem .5rem; font-size: .8rem; }
form.stack { display: grid; gap: .75rem; max-width: 36rem; }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem .75rem; align-items: end; margin-bottom: .75rem; }
label { font-weight: 600; display: block; margin-bottom: .2rem; }
.field small, .field .hint { display: block; font-weight: 400; font-size: .85rem; }
input[type=text], input[type=email], input[type=url], input[type=search], input[type=number], input[type=datetime-local], select, textarea {
  font: inherit; padding: .4rem .5rem; border: 1px solid #9aa1ad; border-radius: .3rem; background: #fff; color: var(--fg); width: 100%; max-width: 36rem; }
textarea { min-height: 6rem; }
input:user-invalid { border-color: var(--bad); }
.field-msg { font-size: .85rem; margin-top: .2rem; }
.field-msg.bad { color: var(--bad); }
.field-msg.good { color: var(--good); }
fieldset { border: 1px solid var(--line); border-radius: .4rem; padding: .5rem .9rem; }
legend { font-weight: 600; }
.checks { list-style: none; margin: 0; padding: 0; }
.checks li { border-bottom: 1px solid var(--line); padding: .55rem 0; }
.checks li:last-child { border-bottom: 0; }
.checks .fix { margin: .2rem 0 0; color: var(--muted); }
.timeline { list-style: none; padding: 0; margin: 0; border-left: 2px solid var(--line); }
.timeline li { position: relative; padding: .2rem 0 .9rem 1.1rem; }
.timeline li::before { content: ""; position: absolute; left: -7px; top: .45rem; width: 12px; height: 12px; border-radius: 50%; background: var(--accent); }
.timeline .bad::before { background: var(--bad); }
.timeline .good::before { background: var(--good); }
.pager { display: flex; gap: 1rem; margin: .5rem 0; }
.chart { width: 100%; height: auto; background: var(--card); border: 1px solid var(--line); border-radius: .5rem; }
.chart text { font-size: 11px; fill: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: .3rem 1rem; list-style: none; padding: 0; margin: .4rem 0; font-size: .85rem; }
.legend .sw { display: inline-block; width: .8rem; height: .8rem; border-radius: .15rem; margin-right: .3rem; vertical-align: -1px; }
.sw.sends { background: #1d4ed8; } .sw.deliveries { background: #15803d; } .sw.bounces { background: #b91c1c; }
.sw.complaints { background: #c2410c; } .sw.rejects { background: #6b21a8; } .sw.review { background: #b45309; } .sw.pause { background: #9f1239; } .sw.guard { background: #0f766e; }
.steps { counter-reset: step; list-style: none; padding: 0; }
.steps > li { counter-increment: step; position: relative; padding-left: 2.4rem; margin-bottom: 1.25rem; }
.steps > li::before { content: counter(step); position: absolute; left: 0; top: 0; width: 1.7rem; height: 1.7rem; border-radius: 50%;
  background: var(--accent); color: #fff; display: grid; place-items: center; font-weight: 700; font-size: .9rem; }
pre { background: var(--neutral-bg); padding: .6rem .8rem; border-radius: .35rem; overflow-x: auto; font-size: .85rem; }
@media (max-width: 760px) {
  .frame { grid-template-columns: 1fr; }
  nav[aria-label="Console"] { border-right: 0; border-bottom: 1px solid var(--line); padding: 0; }
  .menu > summary { display: block; padding: .6rem 1rem; cursor: pointer; font-weight: 600; }
  main { padding: 1rem .85rem 2rem; }
  .facts { grid-template-columns: 1fr; gap: 0; }
  .facts dd { margin-bottom: .5rem; }
  .account-panel { right: -1rem; min-width: 14rem; max-width: calc(100vw - 1rem); }
}
`;

const SCRIPT = `'use strict';
(function () {
  // Copy buttons: the value stays visible and selectable without the script.
  document.querySelectorAll('button[data-copy]').forEach(function (b) {
    b.hidden = false;
    b.addEventListener('click', function () {
      var done = function (ok) { b.textContent = ok ? 'Copied' : 'Select and copy'; setTimeout(function () { b.textContent = 'Copy'; }, 2000); };
      if (navigator.clipboard) navigator.clipboard.writeText(b.getAttribute('data-copy') || '').then(function () { done(true); }, function () { done(false); });
      else done(false);
    });
  });
  // Destructive forms ask first.
  document.querySelectorAll('form[data-confirm]').forEach(function (f) {
    f.addEventListener('submit', function (e) { if (!window.confirm(f.getAttribute('data-confirm'))) e.preventDefault(); });
  });
  // Values checked as they are typed, with the same rule the API applies.
  document.querySelectorAll('input[data-check]').forEach(function (input) {
    var out = document.getElementById(input.getAttribute('data-check'));
    if (!out) return;
    var check = function () {
      if (input.value === '') { out.textContent = ''; out.className = 'field-msg'; return; }
      var ok = new RegExp(input.getAttribute('pattern') || '').test(input.value);
      out.textContent = ok ? (input.getAttribute('data-ok') || 'Looks right.') : (input.getAttribute('data-bad') || 'Not valid.');
      out.className = 'field-msg ' + (ok ? 'good' : 'bad');
    };
    input.addEventListener('input', check);
    check();
  });
  // A form that takes a while says so (the test of a new role may wait for IAM).
  document.querySelectorAll('form[data-busy]').forEach(function (f) {
    f.addEventListener('submit', function () {
      var b = f.querySelector('button[type=submit]');
      if (b) { b.disabled = true; b.textContent = f.getAttribute('data-busy'); }
    });
  });
  // The menu folds on narrow screens.
  var menu = document.querySelector('details.menu');
  if (menu && window.matchMedia('(max-width: 760px)').matches) menu.open = false;
})();
`;

export const consoleAssets = async (app: FastifyInstance): Promise<void> => {
  app.get('/assets/console.css', { config: access.public }, async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=300').send(CSS),
  );
  app.get('/assets/console.js', { config: access.public }, async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(SCRIPT),
  );
};
