import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { safeNext } from '../../src/modules/operators/sign-in.js';
import { sessionCookie, signInAs } from '../helpers/members.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const audit = async (action: string) =>
  (await h.call('GET', `/v1/audit?action=${encodeURIComponent(action)}`)).json.data as Array<{
    action: string;
    actor: string;
    outcome: string;
    details: Record<string, unknown>;
  }>;

describe('one-time sign-in links and sessions', () => {
  it('signs an owner in once with a link, shows the session, and signs out', async () => {
    await h.container.members.addOwner(h.workspaceId, 'Owner@Example.com', 'test');
    const link = await h.container.signIn.createLink('owner@example.com', 'test');
    expect(link.url).toMatch(/\/sign-in\/link\?token=sesl_/);
    const token = new URL(link.url).searchParams.get('token')!;

    // The link's page only asks to confirm: opening it (a mail scanner, a preview) spends nothing.
    const page = await h.call('GET', `/sign-in/link?token=${token}`, undefined, { key: null });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.text).toContain('action="/v1/auth/link"');

    const res = await h.call('POST', '/v1/auth/link', undefined, {
      key: null,
      rawBody: `token=${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    const setCookie = String([res.headers['set-cookie']].flat()[0]);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(setCookie).not.toMatch(/Secure/i); // plain http here; Secure over https
    const cookie = `sesame_session=${sessionCookie(res.headers)}`;

    const me = await h.call('GET', '/v1/session', undefined, { key: null, headers: { cookie } });
    expect(me.json).toMatchObject({
      kind: 'member',
      email: 'owner@example.com',
      role: 'owner',
      workspace: { id: h.workspaceId },
      sessionKind: 'browser',
    });
    const home = await h.call('GET', '/', undefined, { key: null, headers: { cookie } });
    expect(home.text).toContain('owner@example.com');

    // Single use.
    const again = await h.call('POST', '/v1/auth/link', { token }, { key: null });
    expect(again.json.error.code).toBe('sign_in_link_invalid');

    const out = await h.call('DELETE', '/v1/session', undefined, {
      key: null,
      headers: { cookie, 'sesame-csrf': me.json.csrfToken },
    });
    expect(out.status).toBe(204);
    const after = await h.call('GET', '/v1/session', undefined, { key: null, headers: { cookie } });
    expect(after.status).toBe(401);
    expect(after.json.error.code).toBe('session_expired');

    expect((await audit('auth.signed_in'))[0]).toMatchObject({ actor: 'member:owner@example.com' });
    expect((await audit('auth.signed_out'))[0]).toMatchObject({ actor: 'member:owner@example.com' });
    expect((await audit('auth.sign_in_failed'))[0]).toMatchObject({
      actor: 'member:owner@example.com',
      outcome: 'denied',
      details: { method: 'link', reason: 'link used or expired' },
    });
  });

  it('refuses a link sent from another site (nobody signs a victim in as themselves), and sends only to own paths', async () => {
    await h.container.members.addOwner(h.workspaceId, 'target@example.com', 'test');
    const link = await h.container.signIn.createLink('target@example.com', 'test');
    const token = new URL(link.url).searchParams.get('token')!;
    const crossSite: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of crossSite) {
      const res = await h.call('POST', '/v1/auth/link', { token }, { key: null, headers });
      expect(res.json.error.code).toBe('csrf_failed');
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    // Refused before use: the link still works from Sesame's own page.
    const ok = await h.call('POST', '/v1/auth/link', undefined, {
      key: null,
      rawBody: `token=${token}&next=${encodeURIComponent('/\t/evil.example/x')}`,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'http://localhost:80',
        'sec-fetch-site': 'same-origin',
      },
    });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/');
    for (const evil of [
      '//evil.example',
      '/\\evil.example',
      '/\t/evil.example',
      'https://evil.example',
      '/ü',
      '/\r\nx',
    ])
      expect(safeNext(evil), JSON.stringify(evil)).toBe('/');
    expect(safeNext('/emails?status=failed')).toBe('/emails?status=failed');
  });

  it('refuses a link after 15 minutes, and a link for someone who is not a member', async () => {
    await h.container.members.addOwner(h.workspaceId, 'late@example.com', 'test');
    const link = await h.container.signIn.createLink('late@example.com', 'test');
    h.clock.advance(15 * 60_000 + 1);
    const token = new URL(link.url).searchParams.get('token')!;
    const res = await h.call('POST', '/v1/auth/link', { token }, { key: null });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({
      code: 'sign_in_link_invalid',
      hint: expect.stringContaining('sign-in-link'),
    });
    await expect(h.container.signIn.createLink('stranger@example.com', 'test')).rejects.toMatchObject({
      code: 'not_a_member',
    });
  });

  it('ends a session at its idle timeout and at its absolute lifetime, on the injected clock', async () => {
    const a = await signInAs(h, 'idle@example.com');
    h.clock.advance(59 * 60_000);
    expect((await a.call('GET', '/v1/session')).status).toBe(200);
    // Activity moved the idle window: another 59 minutes is still fine.
    h.clock.advance(59 * 60_000);
    expect((await a.call('GET', '/v1/session')).status).toBe(200);
    h.clock.advance(61 * 60_000);
    const idle = await a.call('GET', '/v1/session');
    expect(idle.status).toBe(401);
    expect(idle.json.error).toMatchObject({ code: 'session_expired', details: { reason: 'idle for too long' } });

    const b = await signInAs(h, 'busy@example.com');
    // Active every 55 minutes: the idle timeout never strikes, the 12-hour lifetime does.
    for (let i = 1; i <= 14; i++) {
      h.clock.advance(55 * 60_000);
      expect((await b.call('GET', '/v1/session')).status, `after ${i * 55} minutes`).toBe(i * 55 < 720 ? 200 : 401);
    }
    expect((await b.call('GET', '/v1/session')).json.error.details.reason).toBe('its lifetime is over');
  });

  it('refuses a state change made with the cookie without the CSRF token or from another origin', async () => {
    const a = await signInAs(h, 'csrf@example.com');
    const body = { email: 'x@customer.test', reason: 'manual' };
    const none = await a.call('POST', '/v1/suppressions', body, { csrf: false });
    expect(none.status).toBe(403);
    expect(none.json.error.code).toBe('csrf_failed');
    const wrong = await a.call('POST', '/v1/suppressions', body, { csrf: false, headers: { 'sesame-csrf': 'nope' } });
    expect(wrong.json.error.code).toBe('csrf_failed');
    const foreign = await a.call('POST', '/v1/suppressions', body, { headers: { origin: 'https://evil.example' } });
    expect(foreign.json.error.code).toBe('csrf_failed');
    expect((await h.call('GET', '/v1/suppressions')).json.data).toHaveLength(0);
    const ok = await a.call('POST', '/v1/suppressions', body, { headers: { origin: 'http://localhost:80' } });
    expect(ok.status).toBe(201);
    // Reads need no token; a bearer key needs none either (no cookie, no ambient authority).
    expect((await a.call('GET', '/v1/suppressions', undefined, { csrf: false })).status).toBe(200);
  });
});

describe('members and roles', () => {
  it('applies a role change on the very next request and keeps at least one owner', async () => {
    const owner = await signInAs(h, 'owner@example.com');
    const dev = await signInAs(h, 'dev@example.com', 'developer');
    const hook = { url: 'https://93.184.215.14/hooks/sesame', eventTypes: ['delivery'] };
    const made = await dev.call('POST', '/v1/webhooks', hook);
    expect(made.status, made.text).toBe(201);

    const members = (await owner.call('GET', '/v1/members')).json.data;
    const devId = members.find((m: any) => m.email === 'dev@example.com').id;
    const changed = await owner.call('PATCH', `/v1/members/${devId}`, { role: 'viewer' });
    expect(changed.json).toMatchObject({ email: 'dev@example.com', role: 'viewer' });
    const refused = await dev.call('POST', '/v1/webhooks', hook);
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({
      code: 'forbidden',
      details: { permission: 'webhooks.manage', role: 'viewer' },
    });
    expect((await dev.call('GET', '/v1/webhooks')).status).toBe(200);

    // The last owner can neither be demoted nor removed.
    const ownerId = members.find((m: any) => m.email === 'owner@example.com').id;
    const demote = await owner.call('PATCH', `/v1/members/${ownerId}`, { role: 'admin' });
    expect(demote.status).toBe(409);
    expect(demote.json.error.code).toBe('last_owner');
    expect((await owner.call('DELETE', '/v1/members/owner@example.com')).json.error.code).toBe('last_owner');

    // An admin cannot touch an owner.
    await owner.call('PATCH', `/v1/members/${devId}`, { role: 'admin' });
    const coup = await dev.call('PATCH', `/v1/members/${ownerId}`, { role: 'viewer' });
    expect(coup.status).toBe(403);

    // Removal is effective at once.
    expect((await owner.call('DELETE', `/v1/members/${devId}`)).status).toBe(200);
    const gone = await dev.call('GET', '/v1/webhooks');
    expect(gone.status).toBe(403);
    expect(gone.json.error.code).toBe('not_a_member');

    const changes = await audit('member.role_changed');
    expect(changes.map((c) => [c.actor, c.details.before, c.details.after])).toEqual([
      ['member:owner@example.com', 'viewer', 'admin'],
      ['member:owner@example.com', 'developer', 'viewer'],
    ]);
    expect((await audit('member.removed'))[0]).toMatchObject({ details: { email: 'dev@example.com' } });
  });

  it('lets an owner end every session of a member', async () => {
    const owner = await signInAs(h, 'boss@example.com');
    const a = await signInAs(h, 'laptop@example.com', 'developer');
    expect((await a.call('GET', '/v1/session')).status).toBe(200);
    // Sessions are the person's, in every workspace: an admin may not end them.
    const admin = await signInAs(h, 'second@example.com', 'admin');
    expect((await admin.call('DELETE', '/v1/members/laptop@example.com/sessions')).json.error.code).toBe('forbidden');
    const ended = await owner.call('DELETE', '/v1/members/laptop@example.com/sessions');
    expect(ended.json).toEqual({ ended: 1 });
    expect((await a.call('GET', '/v1/session')).json.error.code).toBe('session_expired');
    expect((await audit('member.sessions_ended'))[0]).toMatchObject({
      actor: 'member:boss@example.com',
      details: { email: 'laptop@example.com', ended: 1 },
    });
  });

  it('invites by email; the invitation is listed, audited and can be withdrawn', async () => {
    const owner = await signInAs(h, 'inviter@example.com');
    const inv = await owner.call('POST', '/v1/invitations', { email: 'New@Example.com', role: 'developer' });
    expect(inv.status).toBe(201);
    expect(inv.json).toMatchObject({
      email: 'new@example.com',
      role: 'developer',
      invitedBy: 'member:inviter@example.com',
    });
    expect((await owner.call('GET', '/v1/invitations')).json.data).toHaveLength(1);
    const bad = await owner.call('POST', '/v1/invitations', { email: 'x@example.com', role: 'king' });
    expect(bad.json.error).toMatchObject({ code: 'validation_failed', details: { field: 'role' } });
    await owner.call('DELETE', `/v1/invitations/${inv.json.id}`);
    expect((await owner.call('GET', '/v1/invitations')).json.data).toHaveLength(0);
    expect((await audit('member.invited'))[0]).toMatchObject({
      details: { email: 'new@example.com', role: 'developer' },
    });
  });
});

describe('API keys with scopes', () => {
  it('changes a key’s scopes and connections, audited with before and after, effective at once', async () => {
    const created = await h.call('POST', '/v1/api-keys', { name: 'ci', scopes: ['read'] });
    expect(created.json).toMatchObject({ scopes: ['read'], connectionIds: null });
    const key = created.json.key;
    expect((await h.call('POST', '/v1/suppressions', { email: 'a@b.test' }, { key })).status).toBe(403);
    const patched = await h.call('PATCH', `/v1/api-keys/${created.json.id}`, { scopes: ['read', 'manage'] });
    expect(patched.json.scopes).toEqual(['read', 'manage']);
    expect((await h.call('POST', '/v1/suppressions', { email: 'a@b.test' }, { key })).status).toBe(201);
    const [row] = await audit('api_key.access_changed');
    expect(row).toMatchObject({
      actor: expect.stringMatching(/^api_key:ses_[A-Za-z0-9]{8}$/),
      details: { before: { scopes: ['read'] }, after: { scopes: ['read', 'manage'] } },
    });
    // Keys are named in the audit log by prefix, never by anything that could be used.
    expect(JSON.stringify(await audit('*'))).not.toContain(key);
    const unknownConn = await h.call('PATCH', `/v1/api-keys/${created.json.id}`, { connectionIds: ['nope'] });
    expect(unknownConn.json.error).toMatchObject({ code: 'validation_failed', details: { field: 'connectionIds' } });
  });
});

describe('who is asking', () => {
  it('answers GET /v1/session for an API key with its scopes', async () => {
    const me = await h.call('GET', '/v1/session');
    expect(me.json).toMatchObject({ kind: 'api_key', apiKey: { scopes: ['admin'] }, workspace: { id: h.workspaceId } });
  });

  it('does not create a workspace for a key, and makes the member who creates one its owner', async () => {
    expect((await h.call('POST', '/v1/workspaces', { name: 'other' })).status).toBe(403);
    const owner = await signInAs(h, 'founder@example.com');
    const made = await owner.call('POST', '/v1/workspaces', { name: 'second' });
    expect(made.status).toBe(201);
    const mine = (await owner.call('GET', '/v1/workspaces')).json.data.map((w: any) => [w.name, w.role]);
    const home = (await h.call('GET', '/v1/workspace')).json.name;
    expect(mine).toEqual([
      [home, 'owner'],
      ['second', 'owner'],
    ]);
    const there = await owner.call('GET', '/v1/session', undefined, { headers: { 'sesame-workspace': 'second' } });
    expect(there.json.workspace.name).toBe('second');
    const notMine = await owner.call('GET', '/v1/session', undefined, { headers: { 'sesame-workspace': 'nope' } });
    expect(notMine.json.error.code).toBe('not_a_member');
  });
});
