/**
 * A real OpenID Connect provider (`oidc-provider` 8) in the test process, for the sign-in tests: it
 * serves discovery, JWKS, the authorization and token endpoints over node:http on 127.0.0.1, shows a
 * minimal login page a browser can click through, and can be told to hand out ID tokens whose one
 * claim is wrong (nonce, expiry, audience, issuer) but whose signature is its own, so a relying party
 * that accepts them is shown not to validate that claim (or whose claims are right and signature is
 * not, for a relying party that checks signatures).
 */
import { type KeyObject, generateKeyPairSync, randomBytes, randomUUID, sign as signBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import Provider, {
  type Account,
  type Adapter,
  type AdapterPayload,
  type ClientMetadata,
  type Interaction,
  type KoaContextWithOIDC,
} from 'oidc-provider';

/** A person known to the provider. `sub` is stable; everything else may change between sign-ins. */
export interface OidcAccount {
  sub: string;
  email: string;
  email_verified: boolean;
  /** Released as the `groups` claim when the groups scope (see `groupsScope`) is granted. */
  groups?: string[];
  name?: string;
}

/**
 * What is wrong with the ID tokens the token endpoint hands out (re-signed with the provider's own
 * key, so only that claim is wrong):
 * - `nonce`: a nonce the relying party never sent;
 * - `expired`: `exp` an hour in the past (`iat` two hours);
 * - `audience`: `aud` is another client;
 * - `issuer`: `iss` is another provider;
 * - `signature`: every claim right, signed by a key the provider's JWKS does not hold (a relying party
 *   only notices with signature checks on, e.g. openid-client's `enableNonRepudiationChecks`).
 */
export type IdTokenTampering = 'nonce' | 'expired' | 'audience' | 'issuer' | 'signature';

export const ID_TOKEN_TAMPERINGS: readonly IdTokenTampering[] = ['nonce', 'expired', 'audience', 'issuer', 'signature'];

export interface StartOidcProviderOptions {
  accounts?: OidcAccount[];
  /** Redirect URIs of both clients; can be set later with setRedirectUris(). */
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  /** Default `sesame`. */
  clientId?: string;
  /** Default: 32 random bytes, base64url. */
  clientSecret?: string;
  /** How the confidential client authenticates at the token endpoint. Default `client_secret_basic`. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /** A public client (no secret, PKCE only). Default `sesame-public`. */
  publicClientId?: string;
  /**
   * The scope that releases the `groups` claim. Default `groups` (as Okta and Dex do); `profile`
   * releases it with the profile, as Authentik does.
   */
  groupsScope?: string;
  tamper?: IdTokenTampering | null;
  /**
   * oidc-provider reads the system time itself (it has no clock option). With a clock here, every ID
   * token's `iat`, `exp` and `auth_time` are moved to this clock's time (same lifetime) and the token
   * re-signed, so a relying party on the same injected clock sees fresh tokens. Codes, sessions and
   * interactions still expire on the system time.
   */
  clock?: { now(): Date };
}

export interface AuthorizeOptions {
  /** Email (case-insensitive) or `sub` of the account to sign in as, typed into the login page. */
  login?: string;
  /** Press "Cancel" on the login page: the provider redirects with `error=access_denied`. */
  deny?: boolean;
}

export interface OidcAccounts {
  /** Add an account or replace the one with the same `sub`. */
  set(account: OidcAccount): void;
  /** Change some of an account's claims; later sign-ins and token requests see the change. */
  update(sub: string, changes: Partial<Omit<OidcAccount, 'sub'>>): void;
  remove(sub: string): void;
  get(sub: string): OidcAccount | undefined;
  list(): OidcAccount[];
}

export interface OidcTestProvider {
  /** `http://127.0.0.1:<port>` (no trailing slash); discovery at `${issuer}/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  tokenEndpointAuthMethod: 'client_secret_basic' | 'client_secret_post';
  publicClientId: string;
  /** The public part of the signing key (what `${issuer}/jwks` serves). */
  jwks: { keys: Record<string, unknown>[] };
  accounts: OidcAccounts;
  setRedirectUris(uris: string[]): void;
  setPostLogoutRedirectUris(uris: string[]): void;
  /** From now on, ID tokens from the token endpoint carry this defect (null: none). */
  setTampering(kind: IdTokenTampering | null): void;
  /**
   * The whole front channel without a browser: starting from an authorization URL of this provider,
   * follows its redirects with a fresh cookie jar, fills in the login page, and returns the URL the
   * provider finally redirects to (the relying party's redirect URI with `code`, `state` and `iss`,
   * or with `error`). Throws when the provider shows an error page or the login is refused.
   */
  authorize(url: string | URL, opts?: AuthorizeOptions): Promise<URL>;
  stop(): Promise<void>;
}

/** Login page selectors for a browser test: fill `input[name="login"]`, click the "Sign in" button. */
export const LOGIN_PAGE = {
  loginInput: 'input[name="login"]',
  signInButton: 'button[name="action"][value="login"]',
  cancelButton: 'button[name="action"][value="abort"]',
} as const;

export async function startOidcProvider(opts: StartOidcProviderOptions = {}): Promise<OidcTestProvider> {
  const clientId = opts.clientId ?? 'sesame';
  const clientSecret = opts.clientSecret ?? randomBytes(32).toString('base64url');
  const tokenEndpointAuthMethod = opts.tokenEndpointAuthMethod ?? 'client_secret_basic';
  const publicClientId = opts.publicClientId ?? 'sesame-public';
  const groupsScope = opts.groupsScope ?? 'groups';
  const clock = opts.clock;
  let tampering: IdTokenTampering | null = opts.tamper ?? null;
  let redirectUris = [...(opts.redirectUris ?? [])];
  let postLogoutRedirectUris = [...(opts.postLogoutRedirectUris ?? [])];

  const accountsBySub = new Map<string, OidcAccount>();
  const accounts: OidcAccounts = {
    set(account) {
      accountsBySub.set(account.sub, structuredClone(account));
    },
    update(sub, changes) {
      const current = accountsBySub.get(sub);
      if (!current) throw new Error(`no account with sub ${sub}`);
      accountsBySub.set(sub, { ...current, ...structuredClone(changes), sub });
    },
    remove(sub) {
      accountsBySub.delete(sub);
    },
    get(sub) {
      const a = accountsBySub.get(sub);
      return a && structuredClone(a);
    },
    list() {
      return [...accountsBySub.values()].map((a) => structuredClone(a));
    },
  };
  for (const a of opts.accounts ?? []) accounts.set(a);

  function findByLogin(login: string): OidcAccount | undefined {
    const wanted = login.trim();
    return (
      accountsBySub.get(wanted) ??
      [...accountsBySub.values()].find((a) => a.email.toLowerCase() === wanted.toLowerCase())
    );
  }

  // The signing key is made here so the helper holds the private half and can re-sign a token.
  const { privateKey, kid } = rsaKey('provider');
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const { kty, n, e } = privateJwk;
  const publicJwks = { keys: [{ kty, n, e, kid, alg: 'RS256', use: 'sig' }] };

  function clientsMetadata(): Map<string, ClientMetadata> {
    const common = {
      redirect_uris: [...redirectUris],
      post_logout_redirect_uris: [...postLogoutRedirectUris],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    };
    return new Map<string, ClientMetadata>([
      [
        clientId,
        {
          ...common,
          client_id: clientId,
          client_secret: clientSecret,
          token_endpoint_auth_method: tokenEndpointAuthMethod,
        },
      ],
      [publicClientId, { ...common, client_id: publicClientId, token_endpoint_auth_method: 'none' }],
    ]);
  }

  const server: Server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`test identity provider failed: ${err instanceof Error ? err.message : String(err)}`);
      } else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(clientsMetadata),
    jwks: { keys: [privateJwk] },
    findAccount: async (_ctx, sub) => {
      const account = accountsBySub.get(sub);
      return account && toProviderAccount(account);
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      ...(groupsScope === 'profile'
        ? { profile: ['name', 'groups'] }
        : { profile: ['name'], [groupsScope]: ['groups'] }),
    },
    // The claims of the granted scopes go in the ID token, not only in userinfo: the relying party
    // signs in from the ID token alone, as it does with Entra ID, Google and Keycloak.
    conformIdTokenClaims: false,
    pkce: { methods: ['S256'], required: () => true },
    responseTypes: ['code'],
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { AuthorizationCode: 60, IdToken: 3600, AccessToken: 3600, Interaction: 3600, Session: 86400, Grant: 86400 },
    renderError: (ctx, out) => {
      const lines = Object.entries(out).map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: ${escapeHtml(v)}</p>`);
      (ctx as KoaContextWithOIDC & { type: string }).type = 'html';
      ctx.body = page('Sign-in error', lines.join(''));
    },
    features: {
      devInteractions: { enabled: false },
      // end_session_endpoint, as Okta, Entra ID and Keycloak publish: one page with one button.
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx: KoaContextWithOIDC, form: string) => {
          ctx.body = page(
            'Sign out',
            `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`,
          );
        },
        postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => {
          ctx.body = page('Signed out', '<p>You are signed out of the test identity provider.</p>');
        },
      },
    },
    cookies: {
      // Browsers share cookies across the ports of one host: names of its own keep this provider's
      // apart from the relying party's and from another test provider's on 127.0.0.1.
      names: { session: `idp${port}_session`, interaction: `idp${port}_interaction`, resume: `idp${port}_resume` },
      keys: [randomBytes(32).toString('base64url')],
      // Lax, not the default None: browsers drop SameSite=None cookies that are not Secure, and this
      // provider speaks plain HTTP on loopback.
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
  });
  provider.on('server_error', (_ctx: unknown, err: Error) => {
    console.error('test identity provider: server_error', err);
  });

  // Runs around the token endpoint: the response body is still an object here, before Koa sends it.
  provider.use(async (ctx: KoaContextWithOIDC, next) => {
    await next();
    if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
    const body = ctx.body as { id_token?: unknown } | undefined;
    if (typeof body?.id_token === 'string' && (tampering || clock)) body.id_token = rewriteIdToken(body.id_token);
  });

  // After every provider.use(): Koa composes the middleware list when the callback is made.
  const providerCallback = provider.callback();

  function rewriteIdToken(jwt: string): string {
    const [header, payload] = jwt.split('.');
    if (!header || !payload) throw new Error('the provider issued an ID token that is not a JWS');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (clock && typeof claims.iat === 'number') {
      const shift = Math.floor(clock.now().getTime() / 1000) - claims.iat;
      for (const name of ['iat', 'exp', 'auth_time', 'nbf']) {
        const v = claims[name];
        if (typeof v === 'number') claims[name] = v + shift;
      }
    }
    let key: KeyObject = privateKey;
    switch (tampering) {
      case 'nonce':
        claims.nonce = `not-the-nonce-${randomBytes(8).toString('hex')}`;
        break;
      case 'expired': {
        const now = claims.iat as number;
        claims.iat = now - 7200;
        claims.exp = now - 3600;
        if (typeof claims.auth_time === 'number') claims.auth_time = now - 7200;
        break;
      }
      case 'audience':
        claims.aud = 'another-relying-party';
        delete claims.azp;
        break;
      case 'issuer':
        claims.iss = 'https://another-provider.invalid';
        break;
      case 'signature':
        key = rsaKey('foreign').privateKey;
        break;
      case null:
        break;
    }
    const signingInput = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return `${signingInput}.${signBytes('sha256', Buffer.from(signingInput), key).toString('base64url')}`;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    const m = /^\/interaction\/([^/]+)(?:\/(login|abort))?$/.exec(url.pathname);
    if (!m) {
      providerCallback(req, res);
      return;
    }
    const [, uid, action] = m;
    let details: Interaction;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      return sendHtml(res, 400, page('Sign-in expired', `<p>${escapeHtml(errorText(err))}</p>`));
    }
    if (details.uid !== uid) return sendHtml(res, 400, page('Sign-in expired', '<p>Unknown interaction.</p>'));

    if (req.method === 'GET' && !action) {
      if (details.prompt.name === 'login') return sendHtml(res, 200, loginPage(details));
      if (details.prompt.name === 'consent') return grantConsent(req, res, details);
      return sendHtml(res, 400, page('Unsupported prompt', `<p>${escapeHtml(details.prompt.name)}</p>`));
    }
    if (req.method === 'POST' && action) {
      const form = new URLSearchParams(await readBody(req));
      if (action === 'abort' || form.get('action') === 'abort') {
        return provider.interactionFinished(
          req,
          res,
          { error: 'access_denied', error_description: 'The person cancelled the sign-in.' },
          { mergeWithLastSubmission: false },
        );
      }
      const login = form.get('login') ?? '';
      const account = findByLogin(login);
      if (!account) return sendHtml(res, 401, loginPage(details, `No account “${login}” at this provider.`));
      return provider.interactionFinished(
        req,
        res,
        { login: { accountId: account.sub } },
        { mergeWithLastSubmission: false },
      );
    }
    res.writeHead(405, { allow: 'GET, POST' }).end();
  }

  // Consent needs no page: every client here is first-party, so what it asks for is granted.
  async function grantConsent(req: IncomingMessage, res: ServerResponse, details: Interaction): Promise<void> {
    const accountId = details.session?.accountId;
    const clientIdOfRequest = details.params.client_id;
    if (!accountId || !clientIdOfRequest) throw new Error('consent asked before a login');
    const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    const grant = existing ?? new provider.Grant({ accountId, clientId: clientIdOfRequest });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: existing ? {} : { grantId } });
  }

  async function authorize(start: string | URL, o: AuthorizeOptions = {}): Promise<URL> {
    const jar = new CookieJar();
    const origin = new URL(issuer).origin;
    let next: { url: URL; method: 'GET' | 'POST'; body?: URLSearchParams } = { url: new URL(start), method: 'GET' };
    if (next.url.origin !== origin) throw new Error(`${next.url.href} is not at this provider (${issuer})`);
    for (let hop = 0; hop < 20; hop++) {
      const res = await fetch(next.url, {
        method: next.method,
        redirect: 'manual',
        headers: {
          cookie: jar.header(next.url),
          ...(next.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body: next.body,
      });
      jar.store(next.url, res.headers.getSetCookie());
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        const target = new URL(location, next.url);
        if (target.origin !== origin) return target;
        next = { url: target, method: 'GET' };
        continue;
      }
      const text = await res.text();
      const isLoginPage = res.status === 200 && /^\/interaction\/[^/]+$/.test(next.url.pathname);
      if (!isLoginPage) {
        throw new Error(`the provider answered ${res.status} at ${next.url.pathname}: ${pageText(text)}`);
      }
      if (o.deny) {
        next = { url: new URL(`${next.url.pathname}/abort`, origin), method: 'POST', body: new URLSearchParams() };
      } else if (o.login !== undefined) {
        const body = new URLSearchParams({ login: o.login, action: 'login' });
        next = { url: new URL(`${next.url.pathname}/login`, origin), method: 'POST', body };
      } else {
        throw new Error('the provider shows its login page and no login was given');
      }
    }
    throw new Error('too many redirects at the provider');
  }

  return {
    issuer,
    clientId,
    clientSecret,
    tokenEndpointAuthMethod,
    publicClientId,
    jwks: publicJwks,
    accounts,
    setRedirectUris(uris) {
      redirectUris = [...uris];
    },
    setPostLogoutRedirectUris(uris) {
      postLogoutRedirectUris = [...uris];
    },
    setTampering(kind) {
      tampering = kind;
    },
    authorize,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const rsaKeys = new Map<string, { privateKey: KeyObject; kid: string }>();

/**
 * RSA keys made once per test process: a 2048-bit key takes up to a second on a busy machine, and
 * providers in one process may share one (each has its own issuer).
 */
function rsaKey(purpose: 'provider' | 'foreign'): { privateKey: KeyObject; kid: string } {
  let key = rsaKeys.get(purpose);
  if (!key) {
    key = { privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, kid: randomUUID() };
    rsaKeys.set(purpose, key);
  }
  return key;
}

function toProviderAccount(account: OidcAccount): Account {
  return {
    accountId: account.sub,
    claims: () => ({
      sub: account.sub,
      email: account.email,
      email_verified: account.email_verified,
      ...(account.groups ? { groups: [...account.groups] } : {}),
      ...(account.name !== undefined ? { name: account.name } : {}),
    }),
  };
}

/**
 * Storage for the provider's models, one per provider (the package's own memory adapter shares one
 * store across instances). Clients come from the helper's current settings on every lookup, so a
 * change of redirect URIs takes effect on the next request.
 */
function memoryAdapter(clients: () => Map<string, ClientMetadata>): new (model: string) => Adapter {
  const entries = new Map<string, { payload: AdapterPayload; expiresAt: number | undefined }>();
  const byGrant = new Map<string, Set<string>>();
  const sessionByUid = new Map<string, string>();
  const live = (key: string): AdapterPayload | undefined => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };
  return class MemoryAdapter implements Adapter {
    constructor(private readonly model: string) {}
    private key(id: string): string {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const key = this.key(id);
      entries.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
      if (this.model === 'Session' && typeof payload.uid === 'string') sessionByUid.set(payload.uid, id);
      if (typeof payload.grantId === 'string') {
        const keys = byGrant.get(payload.grantId) ?? new Set<string>();
        keys.add(key);
        byGrant.set(payload.grantId, keys);
      }
    }
    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') {
        const metadata = clients().get(id);
        return metadata && structuredClone(metadata);
      }
      return live(this.key(id));
    }
    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = sessionByUid.get(uid);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode(): Promise<AdapterPayload | undefined> {
      return undefined;
    }
    async consume(id: string): Promise<void> {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      entries.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      for (const key of byGrant.get(grantId) ?? []) entries.delete(key);
      byGrant.delete(grantId);
    }
  };
}

/** Enough of a browser's cookie store for one front channel on one origin: name, path, deletion. */
class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

  store(requestUrl: URL, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = requestUrl.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const attr of attrs) {
        const [k = '', v = ''] = attr.split('=').map((s) => s.trim());
        if (k.toLowerCase() === 'path' && v.startsWith('/')) path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const key = `${name};${path}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path });
    }
  }

  header(url: URL): string {
    return [...this.cookies.values()]
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

function loginPage(details: Interaction, error?: string): string {
  const hint = details.params.login_hint ?? '';
  return page(
    'Sign in',
    `${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
    <form method="post" action="/interaction/${escapeHtml(details.uid)}/login">
      <label for="login">Email or subject</label>
      <input id="login" name="login" type="text" autocomplete="username" autofocus value="${escapeHtml(String(hint))}">
      <button type="submit" name="action" value="login">Sign in</button>
      <button type="submit" name="action" value="abort" formaction="/interaction/${escapeHtml(details.uid)}/abort">Cancel</button>
    </form>`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · test identity provider</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An error page's words, for an error message: tags stripped, entities left, cut short. */
function pageText(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
