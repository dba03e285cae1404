import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { LOGIN_PAGE, startOidcProvider, type OidcTestProvider } from '../helpers/oidc.js';
import { skippable } from '../helpers/skip.js';

/**
 * Signing in as a person does it, in Debian's Chromium: Sesame's sign-in page, the identity
 * provider's login page, back to Sesame signed in; sign out; every refusal shown with its code and
 * hint; and `sesame login`'s approval page handing a code to the CLI's loopback address.
 */
const CHROMIUM = '/usr/bin/chromium';
const noChromium = existsSync(CHROMIUM) ? null : `Chromium is not at ${CHROMIUM} (apt-get install -y chromium)`;

let browser: Browser;
let idp: OidcTestProvider;
let h: Harness;
let base: string;

beforeAll(async () => {
  if (noChromium) return;
  let now = () => new Date();
  idp = await startOidcProvider({
    accounts: [
      { sub: 'ann', email: 'ann@example.com', email_verified: true },
      { sub: 'bob', email: 'bob@example.com', email_verified: false },
      { sub: 'eve', email: 'eve@elsewhere.test', email_verified: true },
    ],
    clock: { now: () => now() },
  });
  h = await startHarness({
    listen: true,
    env: {
      SESAME_OIDC_ISSUER: idp.issuer,
      SESAME_OIDC_CLIENT_ID: idp.clientId,
      SESAME_OIDC_CLIENT_SECRET: idp.clientSecret,
      SESAME_OIDC_NAME: 'Example SSO',
      SESAME_OIDC_ALLOWED_DOMAINS: 'example.com',
    },
  });
  now = () => h.clock.now();
  base = h.container.config.publicUrl!;
  idp.setRedirectUris([`${base}/v1/auth/oidc/callback`]);
  for (const email of ['ann@example.com', 'bob@example.com', 'eve@elsewhere.test'])
    await h.call('POST', '/v1/invitations', { email, role: 'developer' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
  await idp?.stop();
});

/** A fresh browser profile that fails the test on any console error. */
async function freshPage(): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  // Sesame's pages only: the test identity provider's pages are not under test.
  page.on('console', (m) => {
    if (m.type() === 'error' && m.location().url.startsWith(base)) errors.push(`${m.location().url}: ${m.text()}`);
  });
  return { context, page, errors };
}

async function signInThroughProvider(page: Page, login: string): Promise<void> {
  await page.goto(`${base}/sign-in`);
  await page.getByRole('link', { name: 'Sign in with Example SSO' }).click();
  await page.waitForSelector(LOGIN_PAGE.loginInput);
  await page.fill(LOGIN_PAGE.loginInput, login);
  await page.click(LOGIN_PAGE.signInButton);
  await page.waitForURL((u) => u.origin === base);
}

describe.skipIf(noChromium)(skippable('signing in through the browser', noChromium), () => {
  it('signs in through the identity provider, shows the session, and signs out', async () => {
    const { context, page, errors } = await freshPage();
    await signInThroughProvider(page, 'ann@example.com');
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await page.textContent('[data-testid="email"]')).toBe('ann@example.com');
    expect(await page.textContent('[data-testid="workspaces"]')).toContain('developer');
    const cookie = (await context.cookies()).find((c) => c.name === 'sesame_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

    await page.locator('details.account > summary').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/sign-in`);
    // The old cookie is dead on the server, not only dropped by the browser.
    const after = await h.call('GET', '/v1/session', undefined, {
      key: null,
      headers: { cookie: `sesame_session=${cookie.value}` },
    });
    expect(after.json.error.code).toBe('session_expired');
    expect(errors).toEqual([]);
    await context.close();
  });

  const refusals = [
    { what: 'a wrong nonce', login: 'ann@example.com', tamper: 'nonce', code: 'oidc_failed' },
    { what: 'an expired ID token', login: 'ann@example.com', tamper: 'expired', code: 'oidc_failed' },
    { what: 'a foreign audience', login: 'ann@example.com', tamper: 'audience', code: 'oidc_failed' },
    { what: 'an unverified email', login: 'bob@example.com', tamper: null, code: 'oidc_email_unverified' },
    {
      what: 'a domain that is not allowed',
      login: 'eve@elsewhere.test',
      tamper: null,
      code: 'oidc_domain_not_allowed',
    },
  ] as const;
  for (const r of refusals)
    it(`refuses ${r.what} and says why on the sign-in page`, async () => {
      const { context, page } = await freshPage();
      idp.setTampering(r.tamper);
      try {
        await signInThroughProvider(page, r.login);
      } finally {
        idp.setTampering(null);
      }
      expect(page.url()).toBe(`${base}/sign-in?error=${r.code}`);
      expect(await page.getByRole('alert').textContent()).toContain(r.code);
      expect((await context.cookies()).some((c) => c.name === 'sesame_session')).toBe(false);
      await context.close();
    });

  it('approves `sesame login` in the browser: the code reaches the loopback address and buys a CLI token', async () => {
    // The CLI's side: a loopback listener that receives the redirect.
    let arrived: (u: URL) => void;
    const callback = new Promise<URL>((r) => (arrived = r));
    const loopback: Server = createServer((req, res) => {
      // The browser also asks this origin for its icon: only the callback counts.
      const u = new URL(req.url!, 'http://127.0.0.1');
      if (u.pathname === '/callback') arrived(u);
      res.end('You can close this window.');
    });
    await new Promise<void>((r) => loopback.listen(0, '127.0.0.1', r));
    const redirectUri = `http://127.0.0.1:${(loopback.address() as AddressInfo).port}/callback`;
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const state = randomBytes(16).toString('base64url');
    const authorize = `${base}/v1/auth/cli/authorize?${new URLSearchParams({
      redirect_uri: redirectUri,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })}`;

    const { context, page, errors } = await freshPage();
    // Not signed in yet: sent to sign in first, then back to the approval page.
    await page.goto(authorize);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.getByRole('link', { name: 'Sign in with Example SSO' }).click();
    await page.fill(LOGIN_PAGE.loginInput, 'ann@example.com');
    await page.click(LOGIN_PAGE.signInButton);
    await page.waitForSelector('text=Sign in the Sesame CLI?');
    expect(await page.textContent('main')).toContain('ann@example.com');
    await page.getByRole('button', { name: 'Approve' }).click();
    const received = await callback;
    expect(received.searchParams.get('state')).toBe(state);
    const code = received.searchParams.get('code')!;

    const token = await h.call(
      'POST',
      '/v1/auth/cli/token',
      { code, codeVerifier: verifier, redirectUri },
      { key: null },
    );
    expect(token.status).toBe(200);
    expect(token.json.token).toMatch(/^sesc_/);
    const me = await h.call('GET', '/v1/session', undefined, { key: token.json.token });
    expect(me.json).toMatchObject({ kind: 'member', email: 'ann@example.com', sessionKind: 'cli' });
    // Codes are single use.
    const replay = await h.call(
      'POST',
      '/v1/auth/cli/token',
      { code, codeVerifier: verifier, redirectUri },
      { key: null },
    );
    expect(replay.json.error.code).toBe('sign_in_link_invalid');
    expect(errors).toEqual([]);
    await context.close();
    await new Promise((r) => loopback.close(r));
  });
});
