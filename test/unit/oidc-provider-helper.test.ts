import { type JsonWebKey, createPublicKey, verify as verifySignature } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import {
  type IdTokenTampering,
  type OidcTestProvider,
  type StartOidcProviderOptions,
  startOidcProvider,
} from '../helpers/oidc.js';

/**
 * The test identity provider, proven with the relying-party library Sesame uses (openid-client 6):
 * a good sign-in yields validated claims, and each defect the helper can put in an ID token is one
 * openid-client refuses, while the token's signature stays the provider's own.
 */
const REDIRECT_URI = 'http://127.0.0.1:4999/v1/auth/oidc/callback';

const alice = { sub: 'alice-1', email: 'alice@example.com', email_verified: true, groups: ['sesame-admins'] };
const bob = { sub: 'bob-2', email: 'bob@example.com', email_verified: false };

let idp: OidcTestProvider;

beforeAll(async () => {
  idp = await startOidcProvider({ accounts: [alice, bob], redirectUris: [REDIRECT_URI] });
});
afterAll(async () => {
  await idp?.stop();
});
afterEach(() => {
  idp.setTampering(null);
});

interface SignInOptions {
  login: string;
  scope?: string;
  publicClient?: boolean;
  nonRepudiation?: boolean;
  /** Seconds openid-client adds to its own time (how a relying party on an injected clock sets it). */
  clockSkew?: number;
  provider?: OidcTestProvider;
}

/** The relying party's side, as Sesame does it: discovery, PKCE S256, state, nonce, code grant. */
async function signIn(o: SignInOptions) {
  const p = o.provider ?? idp;
  const auth = o.publicClient
    ? client.None()
    : p.tokenEndpointAuthMethod === 'client_secret_post'
      ? client.ClientSecretPost(p.clientSecret)
      : client.ClientSecretBasic(p.clientSecret);
  const config = await client.discovery(
    new URL(p.issuer),
    o.publicClient ? p.publicClientId : p.clientId,
    o.clockSkew === undefined ? undefined : { [client.clockSkew]: o.clockSkew },
    auth,
    { execute: [client.allowInsecureRequests] },
  );
  if (o.nonRepudiation) client.enableNonRepudiationChecks(config);
  // Keep the raw token response: the ID token is gone once openid-client refuses it.
  const tokenResponses: Record<string, unknown>[] = [];
  config[client.customFetch] = async (url, options) => {
    const res = await fetch(url, options as RequestInit);
    if (new URL(url).pathname === '/token') tokenResponses.push((await res.clone().json()) as Record<string, unknown>);
    return res;
  };
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: o.scope ?? 'openid email profile groups',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  });
  const callback = await p.authorize(url, { login: o.login });
  const result = client
    .authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedNonce: nonce,
      expectedState: state,
    })
    .then((tokens) => tokens.claims());
  return { result, idToken: () => tokenResponses[0]?.id_token as string | undefined, callback };
}

/** Whether a compact JWS verifies with a key of the provider's published JWKS. */
async function signedByProvider(p: OidcTestProvider, jwt: string): Promise<boolean> {
  const jwks = (await (await fetch(`${p.issuer}/jwks`)).json()) as {
    keys: (Record<string, unknown> & { kid: string })[];
  };
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string; alg: string };
  expect(alg).toBe('RS256');
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (!jwk) return false;
  const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  return verifySignature('sha256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'));
}

describe('test identity provider, through openid-client', () => {
  it('a good login yields verified claims: email, email_verified and groups', async () => {
    const { result } = await signIn({ login: 'alice@example.com' });
    const claims = await result;
    expect(claims).toMatchObject({
      iss: idp.issuer,
      aud: idp.clientId,
      sub: 'alice-1',
      email: 'alice@example.com',
      email_verified: true,
      groups: ['sesame-admins'],
    });
  });

  it('an unverified account yields email_verified=false', async () => {
    const claims = await (await signIn({ login: 'bob-2' })).result;
    expect(claims).toMatchObject({ sub: 'bob-2', email: 'bob@example.com', email_verified: false });
    expect(claims).not.toHaveProperty('groups');
  });

  it('groups come only with the groups scope, email only with the email scope', async () => {
    const claims = await (await signIn({ login: 'alice@example.com', scope: 'openid email' })).result;
    expect(claims).toMatchObject({ sub: 'alice-1', email: 'alice@example.com' });
    expect(claims).not.toHaveProperty('groups');
    const bare = await (await signIn({ login: 'alice@example.com', scope: 'openid' })).result;
    expect(bare).not.toHaveProperty('email');
  });

  it('a change to an account shows at the next sign-in', async () => {
    idp.accounts.set({ sub: 'carol-3', email: 'carol@example.com', email_verified: false });
    expect((await (await signIn({ login: 'carol@example.com' })).result)?.email_verified).toBe(false);
    idp.accounts.update('carol-3', { email_verified: true, groups: ['sesame-viewers'] });
    expect(await (await signIn({ login: 'CAROL@example.com' })).result).toMatchObject({
      email_verified: true,
      groups: ['sesame-viewers'],
    });
    idp.accounts.remove('carol-3');
    await expect(signIn({ login: 'carol@example.com' })).rejects.toThrow(/401.*No account/);
  });

  it('the public client signs in with PKCE and no secret', async () => {
    const claims = await (await signIn({ login: 'alice@example.com', publicClient: true })).result;
    expect(claims).toMatchObject({ aud: idp.publicClientId, email: 'alice@example.com' });
  });

  const refusals: [string, IdTokenTampering, string, string, string][] = [
    [
      'a nonce never sent',
      'nonce',
      'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
      'nonce',
      'unexpected ID Token "nonce" claim value',
    ],
    [
      'an expiry in the past',
      'expired',
      'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
      'exp',
      'expiration is past current timestamp',
    ],
    [
      'another audience',
      'audience',
      'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
      'aud',
      'unexpected JWT "aud" (audience) claim value',
    ],
    [
      'another issuer',
      'issuer',
      'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
      'iss',
      'unexpected JWT "iss" (issuer) claim value',
    ],
  ];
  it.each(refusals)(
    'an ID token with %s is refused by openid-client, its signature still the provider’s',
    async (_what, kind, code, claim, reason) => {
      idp.setTampering(kind);
      const attempt = await signIn({ login: 'alice@example.com', nonRepudiation: true });
      const err = (await attempt.result.then(
        () => undefined,
        (e: unknown) => e,
      )) as client.ClientError & { cause: Error & { cause: { claim: string } } };
      expect(err).toBeInstanceOf(client.ClientError);
      expect(err.code).toBe(code);
      expect(err.cause.message).toContain(reason);
      expect(err.cause.cause.claim).toBe(claim);
      const token = attempt.idToken();
      expect(token).toBeDefined();
      expect(await signedByProvider(idp, token!)).toBe(true);

      // Only that claim was wrong: the same sign-in without the defect goes through.
      idp.setTampering(null);
      expect(await (await signIn({ login: 'alice@example.com', nonRepudiation: true })).result).toMatchObject({
        email: 'alice@example.com',
      });
    },
  );

  it('an ID token signed by another key is refused when signatures are checked', async () => {
    idp.setTampering('signature');
    const attempt = await signIn({ login: 'alice@example.com', nonRepudiation: true });
    await expect(attempt.result).rejects.toMatchObject({
      code: 'OAUTH_INVALID_RESPONSE',
      cause: { message: 'JWT signature verification failed' },
    });
    expect(await signedByProvider(idp, attempt.idToken()!)).toBe(false);
  });

  it('the provider requires PKCE: a request without a code challenge comes back with an error', async () => {
    const url = new URL(`${idp.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: idp.clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid email',
      state: 'st',
      nonce: 'n',
    }).toString();
    const back = await idp.authorize(url, { login: 'alice@example.com' });
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(back.searchParams.get('code')).toBeNull();
  });

  it('Cancel on the login page returns access_denied to the relying party', async () => {
    const url = new URL(`${idp.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: idp.clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: 'st-2',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }).toString();
    const back = await idp.authorize(url, { deny: true });
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('st-2');
  });

  it('an unknown login is refused on the login page', async () => {
    await expect(signIn({ login: 'mallory@example.com' })).rejects.toThrow(/401.*No account “mallory@example.com”/);
  });
});

describe('test identity provider settings', () => {
  const started: OidcTestProvider[] = [];
  async function start(o: StartOidcProviderOptions) {
    const p = await startOidcProvider(o);
    started.push(p);
    return p;
  }
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
  });

  it('redirect URIs set after start are the ones the provider accepts; client_secret_post works', async () => {
    const p = await start({ accounts: [alice], tokenEndpointAuthMethod: 'client_secret_post' });
    await expect(signIn({ provider: p, login: 'alice-1' })).rejects.toThrow(/400.*redirect_uri/);
    p.setRedirectUris([REDIRECT_URI]);
    expect(await (await signIn({ provider: p, login: 'alice-1' })).result).toMatchObject({ sub: 'alice-1' });
  });

  it('with groupsScope profile the groups claim comes with the profile', async () => {
    const p = await start({ accounts: [alice], redirectUris: [REDIRECT_URI], groupsScope: 'profile' });
    const claims = await (await signIn({ provider: p, login: 'alice-1', scope: 'openid email profile' })).result;
    expect(claims?.groups).toEqual(['sesame-admins']);
  });

  it('ID tokens carry the injected clock’s time, re-signed; expired is past that clock', async () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const p = await start({ accounts: [alice], redirectUris: [REDIRECT_URI], clock });
    const skew = clock.now().getTime() / 1000 - Math.floor(Date.now() / 1000);
    const attempt = await signIn({ provider: p, login: 'alice-1', nonRepudiation: true, clockSkew: skew });
    const claims = await attempt.result;
    expect(claims?.iat).toBe(Date.parse('2026-01-01T00:00:00Z') / 1000);
    expect(claims!.exp - claims!.iat).toBe(3600);
    expect(await signedByProvider(p, attempt.idToken()!)).toBe(true);

    // Two hours on, with the relying party on the same clock, a fresh token is still good...
    clock.advance(2 * 3600_000);
    const later = await (
      await signIn({ provider: p, login: 'alice-1', clockSkew: skew + 7200, nonRepudiation: true })
    ).result;
    expect(later?.iat).toBe(Date.parse('2026-01-01T02:00:00Z') / 1000);
    // ...and an expired one is expired by that clock.
    p.setTampering('expired');
    await expect(
      (await signIn({ provider: p, login: 'alice-1', clockSkew: skew + 7200 })).result,
    ).rejects.toMatchObject({ code: 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' });
  });
});
