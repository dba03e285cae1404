import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createContainer } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import { cliArgs, root as repoRoot, runCli, serveInProcess } from '../helpers/cli.js';

/**
 * `sesame login`, `whoami` and `logout`. The CLI's config directory and data directory are its own
 * (no local server there): everything it does goes to the server named on the command line.
 */
const root = mkdtempSync(join(tmpdir(), 'sesame-login-'));
const configDir = join(root, 'config');
const env: NodeJS.ProcessEnv = {
  ...process.env,
  NODE_ENV: 'test',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  SESAME_DATA_DIR: join(root, 'elsewhere'),
  SESAME_CONFIG_DIR: configDir,
};
for (const k of ['SESAME_URL', 'SESAME_TOKEN', 'SESAME_SANDBOX']) delete env[k];
const logins = () => JSON.parse(readFileSync(join(configDir, 'logins.json'), 'utf8'));
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * The server half of the browser sign-in, as the contract has it, for the CLI's half: it checks the
 * loopback redirect, the state round trip and the PKCE S256 pair as a real server must.
 */
function fakeAuthServer(opts: { deny?: boolean } = {}) {
  const seen = { challenge: '', redirectUri: '', sessionEnded: false };
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'GET' && u.pathname === '/v1/auth/cli/authorize') {
      const redirect = u.searchParams.get('redirect_uri') ?? '';
      if (
        !/^http:\/\/127\.0\.0\.1:\d+\/callback$/.test(redirect) ||
        u.searchParams.get('code_challenge_method') !== 'S256'
      )
        return json(400, { error: { code: 'validation_failed', message: 'bad request', hint: '' } });
      seen.challenge = u.searchParams.get('code_challenge') ?? '';
      seen.redirectUri = redirect;
      const back = new URL(redirect);
      back.searchParams.set(opts.deny ? 'error' : 'code', opts.deny ? 'access_denied' : 'code-1');
      back.searchParams.set('state', u.searchParams.get('state') ?? '');
      return res.writeHead(302, { location: back.href }).end();
    }
    if (req.method === 'POST' && u.pathname === '/v1/auth/cli/token') {
      let raw = '';
      req.on('data', (d) => (raw += String(d)));
      req.on('end', () => {
        const b = JSON.parse(raw) as { code: string; codeVerifier: string; redirectUri: string };
        const s256 = createHash('sha256').update(b.codeVerifier).digest('base64url');
        if (b.code !== 'code-1' || s256 !== seen.challenge || b.redirectUri !== seen.redirectUri)
          return json(400, { error: { code: 'validation_failed', message: 'The code is not valid.', hint: '' } });
        json(200, { token: 'sesc_test', expiresAt: '2030-01-01T00:00:00.000Z', email: 'ann@example.com' });
      });
      return;
    }
    if (req.headers.authorization !== 'Bearer sesc_test')
      return json(401, { error: { code: 'unauthorized', message: 'A valid credential is required.', hint: '' } });
    if (req.method === 'GET' && u.pathname === '/v1/session')
      return json(200, {
        kind: 'member',
        email: 'ann@example.com',
        role: 'admin',
        workspace: { id: 'ws_1', name: 'default' },
        workspaces: [{ id: 'ws_1', name: 'default', role: 'admin' }],
        expiresAt: '2030-01-01T00:00:00.000Z',
      });
    if (req.method === 'DELETE' && u.pathname === '/v1/session') {
      seen.sessionEnded = true;
      return res.writeHead(204).end();
    }
    json(404, { error: { code: 'route_not_found', message: 'No route.', hint: '' } });
  });
  return {
    seen,
    async listen(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/** `sesame login <url> --no-browser`: the address it prints, then what it ends with. */
function loginInBrowser(url: string) {
  const p = spawn(process.execPath, [...cliArgs, 'login', url, '--no-browser'], {
    env,
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += String(d)));
  p.stderr.on('data', (d) => (err += String(d)));
  const exited = new Promise<number | null>((r) => p.on('close', r));
  const address = new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /(http:\/\/127\.0\.0\.1:\d+\/v1\/auth\/cli\/authorize\?\S+)/.exec(err);
      if (m) resolve(m[1]!);
    };
    p.stderr.on('data', check);
    void exited.then(() => reject(new Error(`login exited: ${out}${err}`)));
  });
  return { address, exited, out: () => out, err: () => err };
}

describe('sesame login in the browser (loopback redirect, state, PKCE S256)', () => {
  it('signs in, keeps the session 0600 as the default server, whoami shows it, logout ends it', async () => {
    const fake = fakeAuthServer();
    const url = await fake.listen();
    try {
      const login = loginInBrowser(url);
      const authorize = new URL(await login.address);
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
      expect(authorize.searchParams.get('state')!.length).toBeGreaterThanOrEqual(32);
      // The browser: the server redirects back to the CLI's loopback listener.
      const redirect = (await fetch(authorize, { redirect: 'manual' })).headers.get('location')!;
      // A redirect with another state is not this sign-in: refused, and the CLI keeps waiting.
      const forged = new URL(redirect);
      forged.searchParams.set('state', 'forged');
      expect((await fetch(forged)).status).toBe(404);
      const page = await fetch(redirect);
      expect(await page.text()).toContain('Signed in to the Sesame CLI');
      expect(await login.exited).toBe(0);
      expect(login.out()).toContain(`Signed in to ${url} as ann@example.com (admin of default).`);
      expect(logins()).toMatchObject({ default: url, servers: { [url]: { kind: 'session', token: 'sesc_test' } } });
      expect(mode(configDir)).toBe('700');
      expect(mode(join(configDir, 'logins.json'))).toBe('600');

      const who = await runCli(env, ['whoami']);
      expect(who.code, who.stderr).toBe(0);
      expect(who.stdout).toMatch(/email\s+ann@example\.com/);
      expect(who.stdout).toMatch(/role\s+admin/);
      expect(who.stdout).toMatch(/signed in with\s+sesame login/);

      const out = await runCli(env, ['logout']);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout).toContain(`Signed out of ${url}.`);
      expect(fake.seen.sessionEnded).toBe(true);
      expect(logins().servers).toEqual({});
      const after = await runCli(env, ['whoami']);
      expect(after.code).toBe(1);
      expect(after.stderr).toContain('error [not_logged_in]');
    } finally {
      await fake.close();
    }
  });

  it('a refused approval ends the login with unauthorized and keeps nothing', async () => {
    const fake = fakeAuthServer({ deny: true });
    const url = await fake.listen();
    try {
      const login = loginInBrowser(url);
      const redirect = (await fetch(await login.address, { redirect: 'manual' })).headers.get('location')!;
      expect(await (await fetch(redirect)).text()).toContain('Sign-in refused');
      expect(await login.exited).toBe(1);
      expect(login.err()).toContain('error [unauthorized]: The sign-in was refused (access_denied).');
      expect(existsSync(join(configDir, 'logins.json')) ? logins().servers[url] : undefined).toBeUndefined();
    } finally {
      await fake.close();
    }
  });
});

/** These need GET and DELETE /v1/session on the server. */
describe('sesame login --with-token against a server elsewhere', () => {
  const dataDir = join(root, 'server');
  let c: Awaited<ReturnType<typeof createContainer>>;
  let server: Awaited<ReturnType<typeof serveInProcess>>;
  let key = '';

  beforeAll(async () => {
    c = await createContainer(loadConfig({ SESAME_DATA_DIR: dataDir }), { logger: createLogger('silent') });
    const ws = await c.workspaces.create('default', 'test');
    key = (await c.apiKeys.create(ws.id, 'laptop', 'test', { scopes: ['admin'] })).key;
    server = await serveInProcess(c, dataDir, ws.id);
  });
  afterAll(async () => {
    await server?.close();
    await c?.close();
  });

  it('takes an API key on standard input, then whoami and the resource commands use it; logout forgets it', async () => {
    const login = await runCli(env, ['login', server.api, '--with-token'], `${key}\n`);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Signed in to ${server.api} with the API key laptop`);
    expect(logins().servers[server.api]).toMatchObject({ kind: 'api_key', token: key });
    expect(mode(join(configDir, 'logins.json'))).toBe('600');

    const who = JSON.parse((await runCli(env, ['--json', 'whoami'])).stdout);
    expect(who).toMatchObject({ server: server.api, kind: 'api_key', apiKey: { name: 'laptop' } });
    const keys = await runCli(env, ['api-keys', 'list']);
    expect(keys.code, keys.stderr).toBe(0);
    expect(keys.stdout).toContain('laptop');

    const out = await runCli(env, ['logout', server.api]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('the key itself stays valid');
    expect(logins().servers[server.api]).toBeUndefined();
  });

  it('a wrong key is refused at login with unauthorized and its hint, and nothing is kept', async () => {
    const r = await runCli(env, ['login', server.api, '--with-token'], `ses_${'a'.repeat(8)}_${'b'.repeat(40)}\n`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [unauthorized]');
    expect(r.stderr).toMatch(/hint: Your sign-in to http:\/\/127\.0\.0\.1:\d+ is no longer valid/);
    expect(existsSync(join(configDir, 'logins.json')) ? logins().servers[server.api] : undefined).toBeUndefined();
  });
});
