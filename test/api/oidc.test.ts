import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc.js';

/**
 * Sign-in through a real OpenID Connect provider running in the test process, driven through the
 * API: each way an ID token or an account can be wrong is refused, and audited.
 */
const CALLBACK = 'http://127.0.0.1:3000/v1/auth/oidc/callback';
let idp: OidcTestProvider;
let h: Harness;

beforeAll(async () => {
  let now = () => new Date();
  idp = await startOidcProvider({
    redirectUris: [CALLBACK],
    accounts: [
      { sub: 'ann', email: 'Ann@Example.com', email_verified: true },
      { sub: 'bob', email: 'bob@example.com', email_verified: false },
      { sub: 'eve', email: 'eve@elsewhere.test', email_verified: true },
      { sub: 'gil', email: 'gil@example.com', email_verified: true, groups: ['sesame-admins'] },
      { sub: 'nic', email: 'nic@example.com', email_verified: true },
    ],
    clock: { now: () => now() },
  });
  h = await startHarness({
    env: {
      SESAME_OIDC_ISSUER: idp.issuer,
      SESAME_OIDC_CLIENT_ID: idp.clientId,
      SESAME_OIDC_CLIENT_SECRET: idp.clientSecret,
      SESAME_OIDC_NAME: 'Test IdP',
      SESAME_OIDC_ALLOWED_DOMAINS: 'example.com',
      SESAME_OIDC_ROLE_CLAIM: 'groups',
      SESAME_OIDC_ROLE_MAP: 'sesame-admins=acme:admin',
    },
  });
  // The provider stamps its tokens with Sesame's (moved) time.
  now = () => h.clock.now();
});
afterAll(async () => {
  await h?.close();
  await idp?.stop();
});
beforeEach(() => idp.setTampering(null));

/** The whole front channel: Sesame's start, the provider's login, back to Sesame's callback. */
async function signIn(login: string, opts: { dropStateCookie?: boolean } = {}) {
  const start = await h.call('GET', '/v1/auth/oidc/start?next=/somewhere', undefined, { key: null });
  expect(start.status).toBe(302);
  const stateCookie = String([start.headers['set-cookie']].flat()[0]).split(';')[0]!;
  const back = await idp.authorize(String(start.headers.location), { login });
  expect(back.href.startsWith(CALLBACK)).toBe(true);
  const res = await h.call('GET', `${back.pathname}${back.search}`, undefined, {
    key: null,
    headers: opts.dropStateCookie ? {} : { cookie: stateCookie },
  });
  const session = [res.headers['set-cookie']]
    .flat()
    .map(String)
    .find((c) => c.startsWith('sesame_session='));
  return { status: res.status, location: String(res.headers.location), session: session?.split(';')[0] };
}

const failures = async () =>
  ((await h.call('GET', '/v1/audit?action=auth.sign_in_failed')).json.data as any[]).map((e) => e.details);

describe('OIDC sign-in', () => {
  it('signs in an invited person with a verified email, once, with PKCE and a nonce', async () => {
    await h.call('POST', '/v1/invitations', { email: 'ann@example.com', role: 'developer' });
    const start = await h.call('GET', '/v1/auth/oidc/start', undefined, { key: null });
    const authUrl = new URL(String(start.headers.location));
    expect(authUrl.origin).toBe(idp.issuer);
    expect(authUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authUrl.searchParams.get('nonce')).toBeTruthy();
    expect(authUrl.searchParams.get('redirect_uri')).toBe(CALLBACK);

    const r = await signIn('ann@example.com');
    expect(r.status).toBe(303);
    expect(r.location).toBe('/somewhere');
    const me = await h.call('GET', '/v1/session', undefined, { key: null, headers: { cookie: r.session! } });
    expect(me.json).toMatchObject({ kind: 'member', email: 'ann@example.com', role: 'developer' });
    const [signedIn] = (await h.call('GET', '/v1/audit?action=auth.signed_in')).json.data;
    expect(signedIn).toMatchObject({ actor: 'member:ann@example.com', details: { method: 'oidc' } });
    expect((await h.call('GET', '/v1/audit?action=member.invitation_accepted')).json.data).toHaveLength(1);
  });

  for (const tampering of ['nonce', 'expired', 'audience', 'issuer', 'signature'] as const)
    it(`refuses an ID token with a wrong ${tampering}`, async () => {
      await h.call('POST', '/v1/invitations', { email: 'nic@example.com', role: 'viewer' });
      idp.setTampering(tampering);
      const r = await signIn('nic@example.com');
      expect(r.status).toBe(303);
      expect(r.location).toBe('/sign-in?error=oidc_failed');
      expect(r.session).toBeUndefined();
      const page = await h.call('GET', r.location, undefined, { key: null });
      expect(page.text).toContain('oidc_failed');
      // Nothing in a refused token is trusted, not even to pick a workspace: the refusal is logged
      // outside any workspace, with the reason.
      const [refusal] = await h.container.repos.audit.page({
        workspaceId: null,
        action: 'auth.sign_in_failed',
        limit: 1,
      });
      expect(refusal).toMatchObject({ actor: 'anonymous', outcome: 'denied', details: { method: 'oidc' } });
      // The same person, the same provider, a token left alone: signed in.
      idp.setTampering(null);
      expect((await signIn('nic@example.com')).session).toBeTruthy();
    });

  it('refuses an unverified email, a domain that is not allowed, and a person who is no member', async () => {
    await h.call('POST', '/v1/invitations', { email: 'bob@example.com', role: 'viewer' });
    await h.call('POST', '/v1/invitations', { email: 'eve@elsewhere.test', role: 'viewer' });
    const bob = await signIn('bob@example.com');
    expect([bob.location, bob.session]).toEqual(['/sign-in?error=oidc_email_unverified', undefined]);
    const eve = await signIn('eve@elsewhere.test');
    expect([eve.location, eve.session]).toEqual(['/sign-in?error=oidc_domain_not_allowed', undefined]);
    idp.accounts.set({ sub: 'zed', email: 'zed@example.com', email_verified: true });
    const zed = await signIn('zed@example.com');
    expect([zed.location, zed.session]).toEqual(['/sign-in?error=not_a_member', undefined]);
    // Refusals of people with a pending invitation land in that workspace's log with the reason.
    const reasons = (await failures()).map((d) => d.reason);
    expect(reasons).toEqual(expect.arrayContaining(['email not verified', 'domain not allowed']));
    const page = await h.call('GET', '/sign-in?error=oidc_domain_not_allowed', undefined, { key: null });
    expect(page.text).toContain('SESAME_OIDC_ALLOWED_DOMAINS');
  });

  it('refuses a callback in a browser that did not start the sign-in', async () => {
    await h.call('POST', '/v1/invitations', { email: 'nic@example.com', role: 'viewer' });
    const r = await signIn('nic@example.com', { dropStateCookie: true });
    expect([r.location, r.session]).toEqual(['/sign-in?error=oidc_failed', undefined]);
  });

  it('takes roles from the provider’s claim and follows it at each sign-in', async () => {
    const first = await signIn('gil@example.com');
    const me = await h.call('GET', '/v1/session', undefined, { key: null, headers: { cookie: first.session! } });
    expect(me.json).toMatchObject({ email: 'gil@example.com', role: 'admin' });
    idp.accounts.update('gil', { groups: [] });
    const second = await signIn('gil@example.com');
    expect(second.location).toBe('/sign-in?error=not_a_member');
    // The earlier session sees the removal at once too.
    const after = await h.call('GET', '/v1/session', undefined, { key: null, headers: { cookie: first.session! } });
    expect(after.json.error.code).toBe('not_a_member');
  });
});
