import { createHash, randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { systemOffsetSeconds, type Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type {
  InvitationsRepo,
  MembersRepo,
  MembershipRow,
  Role,
  SignInGrantsRepo,
  UserRow,
} from '../../store/operators.js';
import type { WorkspacesRepo } from '../../store/workspaces.js';
import type { Audit } from '../audit/audit.js';
import { normaliseEmail, type Members } from './members.js';
import { hashToken, type Sessions } from './sessions.js';

const LINK_MINUTES = 15;
const OIDC_LOGIN_MINUTES = 10;
const CLI_CODE_MINUTES = 5;

/** Where a sign-in came from, for the audit log. */
export type SignInMethod = 'oidc' | 'link' | 'cli';

export interface SignedIn {
  token: string;
  user: UserRow;
  memberships: MembershipRow[];
  expiresAt: string;
}

interface OidcLogin {
  nonce: string;
  verifier: string;
  next: string;
}

interface CliCode {
  userId: string;
  email: string;
  challenge: string;
  redirectUri: string;
}

/** A loopback redirect (RFC 8252 §7.3): http, 127.0.0.1 / [::1] / localhost, any port. */
export function isLoopbackRedirect(uri: string): boolean {
  try {
    const u = new URL(uri);
    return (
      u.protocol === 'http:' &&
      ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname) &&
      u.port !== '' &&
      u.username === '' &&
      u.password === '' &&
      u.hash === ''
    );
  } catch {
    return false;
  }
}

/**
 * Only a path on this server: never another origin. Browsers drop tabs and newlines and read `\`
 * as `/` in URLs, so anything but printable ASCII without `\` is refused, and what is left must
 * resolve to this origin.
 */
export function safeNext(next: string | undefined): string {
  if (!next || !/^\/[\x21-\x7e]*$/.test(next) || next.includes('\\') || next.startsWith('//')) return '/';
  const base = 'http://sesame.invalid';
  const u = new URL(next, base);
  return u.origin === base ? `${u.pathname}${u.search}` : '/';
}

const s256 = (verifier: string): string => createHash('sha256').update(verifier, 'ascii').digest('base64url');

/**
 * Signing in without a password: OIDC (authorization code + PKCE + nonce) against the
 * organisation's identity provider, one-time links printed by the CLI, and CLI authorization
 * codes issued to a signed-in browser for `sesame login`. Every sign-in and refusal is audited.
 */
export function createSignIn(deps: {
  config: Pick<
    Config,
    | 'publicUrl'
    | 'host'
    | 'port'
    | 'oidcIssuer'
    | 'oidcClientId'
    | 'oidcClientSecret'
    | 'oidcName'
    | 'oidcAllowedDomains'
    | 'oidcRoleClaim'
    | 'oidcRoleMap'
  >;
  grants: Pick<SignInGrantsRepo, 'insert' | 'take' | 'find' | 'purge'>;
  workspaces: Pick<WorkspacesRepo, 'find'>;
  users: Pick<MembersRepo, 'userByEmail'>;
  invitations: Pick<InvitationsRepo, 'pendingFor'>;
  members: Pick<Members, 'settle' | 'recordSignIn' | 'memberships'>;
  sessions: Pick<Sessions, 'start'>;
  clock: Clock;
  audit: Pick<Audit, 'record'>;
  logger: Logger;
}) {
  const { config, grants, clock, audit } = deps;
  let discovered: Promise<oidc.Configuration> | undefined;

  const baseUrl = (): string =>
    (
      config.publicUrl ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`
    ).replace(/\/$/, '');
  const oidcEnabled = (): boolean => Boolean(config.oidcIssuer && config.oidcClientId);
  const callbackUrl = (): string => `${baseUrl()}/v1/auth/oidc/callback`;

  async function newGrant(kind: 'oidc' | 'link' | 'cli_code', data: unknown, minutes: number, secret: string) {
    const now = clock.ms();
    await grants.insert({
      hash: hashToken(secret),
      kind,
      data,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + minutes * 60_000).toISOString(),
    });
    // Grants are few and short-lived: the ones long past are dropped as new ones are made.
    await grants.purge(new Date(now - 86_400_000).toISOString());
  }

  /** Audit a refused sign-in in the workspaces of the person it names (or none), then throw. */
  async function refuse(
    code: 'not_a_member' | 'oidc_email_unverified' | 'oidc_domain_not_allowed' | 'oidc_failed' | 'sign_in_link_invalid',
    message: string,
    method: SignInMethod,
    email: string | null,
    reason: string,
  ): Promise<never> {
    const workspaces = email ? await concernedWorkspaces(email) : [];
    for (const w of workspaces.length ? workspaces : [null])
      await audit.record({
        workspaceId: w,
        actor: email ? `member:${email}` : 'anonymous',
        action: 'auth.sign_in_failed',
        outcome: 'denied',
        details: { method, reason, ...(email ? { email } : {}) },
      });
    throw new AppError(code, message);
  }

  /** Workspaces the person belongs to. */
  async function knownWorkspaces(email: string): Promise<string[]> {
    const u = await deps.users.userByEmail(normaliseEmail(email));
    return u ? (await deps.members.memberships(u.id)).map((m) => m.workspaceId) : [];
  }

  /** Workspaces that know the person: members, or invited. */
  async function concernedWorkspaces(email: string): Promise<string[]> {
    const invited = await deps.invitations.pendingFor(normaliseEmail(email), clock.now().toISOString());
    return [...new Set([...(await knownWorkspaces(email)), ...invited.map((i) => i.workspaceId)])];
  }

  async function finish(
    email: string,
    method: SignInMethod,
    fromClaim: Array<{ workspaceId: string; role: Role }> | null,
    kind: 'browser' | 'cli',
  ): Promise<SignedIn> {
    const { user, memberships } = await deps.members.settle(email, fromClaim);
    if (!user || memberships.length === 0)
      return refuse(
        'not_a_member',
        `${normaliseEmail(email)} is not a member of any workspace of this Sesame.`,
        method,
        normaliseEmail(email),
        'not a member',
      );
    const { token, session } = await deps.sessions.start(user.id, kind);
    await deps.members.recordSignIn(user.id);
    for (const m of memberships)
      await audit.record({
        workspaceId: m.workspaceId,
        actor: `member:${user.email}`,
        action: kind === 'cli' ? 'auth.cli_signed_in' : 'auth.signed_in',
        details: { method, sessionId: session.id, role: m.role },
      });
    return { token, user, memberships, expiresAt: session.expiresAt };
  }

  const clientAuth = (): oidc.ClientAuth =>
    config.oidcClientSecret ? oidc.ClientSecretBasic(config.oidcClientSecret) : oidc.None();
  // Plain http only for a provider on this machine (a development or test IdP).
  const localIssuer = (): boolean => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(config.oidcIssuer!).hostname);

  /** The provider's metadata, discovered once per process (again after a failure). */
  async function discover(): Promise<oidc.Configuration> {
    if (!oidcEnabled())
      throw new AppError('oidc_not_configured', 'No identity provider is configured for this Sesame.');
    discovered ??= oidc
      .discovery(
        new URL(config.oidcIssuer!),
        config.oidcClientId!,
        undefined,
        clientAuth(),
        localIssuer() ? { execute: [oidc.allowInsecureRequests] } : undefined,
      )
      .catch((e: unknown) => {
        discovered = undefined;
        throw new AppError(
          'oidc_failed',
          `The identity provider at ${config.oidcIssuer} could not be reached: ${e instanceof Error ? e.message : String(e)}.`,
          {
            hint: 'Check SESAME_OIDC_ISSUER (it must serve /.well-known/openid-configuration) and that this server can reach it.',
          },
        );
      });
    return discovered;
  }

  /**
   * The configuration a callback is validated with: the ID token's signature is checked against
   * the provider's published keys (openid-client skips that by default for the code flow), and
   * its times against this process's clock as it is now.
   */
  async function validating(): Promise<oidc.Configuration> {
    const base = await discover();
    const cfg = new oidc.Configuration(
      base.serverMetadata(),
      config.oidcClientId!,
      { [oidc.clockSkew]: systemOffsetSeconds(clock) },
      clientAuth(),
    );
    if (localIssuer()) oidc.allowInsecureRequests(cfg);
    oidc.enableNonRepudiationChecks(cfg);
    return cfg;
  }

  /** Roles from the provider's claim, per workspace; null when no claim is configured. */
  async function rolesFromClaim(
    claims: Record<string, unknown>,
  ): Promise<Array<{ workspaceId: string; role: Role }> | null> {
    if (!config.oidcRoleClaim || !config.oidcRoleMap) return null;
    const raw = claims[config.oidcRoleClaim];
    const values = new Set((Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []).map(String));
    const best = new Map<string, Role>();
    const rank: Record<Role, number> = { owner: 4, admin: 3, developer: 2, viewer: 1 };
    for (const m of config.oidcRoleMap) {
      if (!values.has(m.value)) continue;
      const ws = await deps.workspaces.find(m.workspace ?? 'default');
      if (!ws) continue;
      const had = best.get(ws.id);
      if (!had || rank[m.role] > rank[had]) best.set(ws.id, m.role);
    }
    return [...best].map(([workspaceId, role]) => ({ workspaceId, role }));
  }

  return {
    baseUrl,
    providers(): Array<{ id: 'oidc'; name: string; startUrl: string }> {
      return oidcEnabled() ? [{ id: 'oidc', name: config.oidcName, startUrl: '/v1/auth/oidc/start' }] : [];
    },

    /** A one-time sign-in link for a member (15 minutes, single use). */
    async createLink(email: string, actor: string): Promise<{ url: string; expiresAt: string }> {
      const e = normaliseEmail(email);
      const workspaces = await knownWorkspaces(e);
      if (workspaces.length === 0)
        throw new AppError('not_a_member', `${e} is not a member of any workspace of this Sesame.`);
      const token = `sesl_${randomBytes(32).toString('base64url')}`;
      await newGrant('link', { email: e }, LINK_MINUTES, token);
      for (const w of workspaces)
        await audit.record({ workspaceId: w, actor, action: 'auth.sign_in_link_created', details: { email: e } });
      return {
        url: `${baseUrl()}/sign-in/link?token=${token}`,
        expiresAt: new Date(clock.ms() + LINK_MINUTES * 60_000).toISOString(),
      };
    },

    async signInWithLink(token: string): Promise<SignedIn> {
      const g = await grants.take<{ email: string }>(hashToken(token), 'link', clock.now().toISOString());
      if (!g) {
        // A used or expired link still names its member: their workspaces see the attempt.
        const spent = await grants.find<{ email: string }>(hashToken(token));
        return refuse(
          'sign_in_link_invalid',
          'This sign-in link is not valid: it was used already, has expired (links last 15 minutes) or was mistyped.',
          'link',
          spent?.kind === 'link' ? spent.data.email : null,
          spent ? 'link used or expired' : 'unknown link',
        );
      }
      return finish(g.data.email, 'link', null, 'browser');
    },

    /** Begin an OIDC sign-in: where to send the browser, and the state to bind to it (a cookie). */
    async oidcStart(next: string | undefined): Promise<{ url: string; state: string }> {
      const cfg = await discover();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const verifier = oidc.randomPKCECodeVerifier();
      await newGrant('oidc', { nonce, verifier, next: safeNext(next) } satisfies OidcLogin, OIDC_LOGIN_MINUTES, state);
      const url = oidc.buildAuthorizationUrl(cfg, {
        redirect_uri: callbackUrl(),
        scope: config.oidcRoleClaim ? `openid email profile ${config.oidcRoleClaim}` : 'openid email profile',
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      return { url: url.href, state };
    },

    /**
     * The provider sent the browser back. The state must match the one bound to this browser;
     * the ID token is validated (signature, issuer, audience, expiry, nonce) by openid-client;
     * only a verified email of an allowed domain signs in.
     */
    async oidcCallback(currentUrl: URL, boundState: string | undefined): Promise<SignedIn & { next: string }> {
      const state = currentUrl.searchParams.get('state') ?? '';
      const providerError = currentUrl.searchParams.get('error');
      if (providerError)
        return refuse(
          'oidc_failed',
          `The identity provider refused the sign-in: ${providerError}${currentUrl.searchParams.get('error_description') ? ` (${currentUrl.searchParams.get('error_description')})` : ''}.`,
          'oidc',
          null,
          `provider error ${providerError}`,
        );
      if (!state || state !== boundState)
        return refuse(
          'oidc_failed',
          'This sign-in was not started in this browser (the state does not match).',
          'oidc',
          null,
          'state mismatch',
        );
      const g = await grants.take<OidcLogin>(hashToken(state), 'oidc', clock.now().toISOString());
      if (!g)
        return refuse(
          'oidc_failed',
          'This sign-in has expired or was already used; start again.',
          'oidc',
          null,
          'login expired or replayed',
        );
      const cfg = await validating();
      let claims: Record<string, unknown>;
      try {
        const tokens = await oidc.authorizationCodeGrant(cfg, new URL(`${callbackUrl()}${currentUrl.search}`), {
          pkceCodeVerifier: g.data.verifier,
          expectedNonce: g.data.nonce,
          expectedState: state,
          idTokenExpected: true,
        });
        claims = (tokens.claims() ?? {}) as Record<string, unknown>;
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        deps.logger.warn({ reason: why }, 'OIDC sign-in refused: the ID token or code did not validate');
        return refuse('oidc_failed', `The identity provider's answer did not validate: ${why}.`, 'oidc', null, why);
      }
      const email = typeof claims.email === 'string' ? normaliseEmail(claims.email) : null;
      if (!email)
        return refuse('oidc_failed', 'The identity provider sent no email address.', 'oidc', null, 'no email claim');
      if (claims.email_verified !== true)
        return refuse(
          'oidc_email_unverified',
          `The identity provider has not verified ${email}.`,
          'oidc',
          email,
          'email not verified',
        );
      const allowed = config.oidcAllowedDomains;
      if (allowed?.length && !allowed.includes(email.slice(email.lastIndexOf('@') + 1)))
        return refuse(
          'oidc_domain_not_allowed',
          `${email} is not in an allowed domain (${allowed.join(', ')}).`,
          'oidc',
          email,
          'domain not allowed',
        );
      const signed = await finish(email, 'oidc', await rolesFromClaim(claims), 'browser');
      return { ...signed, next: g.data.next };
    },

    /** A signed-in person approved `sesame login`: a code for the CLI's loopback redirect. */
    async cliApprove(user: UserRow, p: { redirectUri: string; state: string; codeChallenge: string }): Promise<string> {
      const code = `sesk_${randomBytes(32).toString('base64url')}`;
      await newGrant(
        'cli_code',
        {
          userId: user.id,
          email: user.email,
          challenge: p.codeChallenge,
          redirectUri: p.redirectUri,
        } satisfies CliCode,
        CLI_CODE_MINUTES,
        code,
      );
      const u = new URL(p.redirectUri);
      u.searchParams.set('code', code);
      u.searchParams.set('state', p.state);
      return u.href;
    },

    /** The CLI trades its code (with the PKCE verifier) for a CLI session token. */
    async cliToken(code: string, verifier: string, redirectUri: string): Promise<SignedIn> {
      const g = await grants.take<CliCode>(hashToken(code), 'cli_code', clock.now().toISOString());
      if (!g || g.data.redirectUri !== redirectUri || s256(verifier) !== g.data.challenge)
        return refuse(
          'sign_in_link_invalid',
          'This CLI sign-in code is not valid: it was used already, has expired (5 minutes) or does not match this login.',
          'cli',
          g?.data.email ?? null,
          'cli code invalid',
        );
      return finish(g.data.email, 'cli', null, 'cli');
    },
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
