import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Command } from 'commander';
import { systemClock } from '../../clock.js';
import { AppError, isAppError } from '../../errors.js';
import { createApiClient, type ApiClient, type ApiTarget } from '../api-client.js';
import { action, type CliContext } from '../context.js';
import { readLocalServer } from '../local-server.js';
import { forgetLogin, readLogins, saveLogin, serverKey } from '../logins.js';
import { printRecord } from '../output.js';

/** What GET /v1/session answers. */
export type Session =
  | {
      kind: 'member';
      email: string;
      role: string;
      workspace: { id: string; name: string };
      workspaces: { id: string; name: string; role: string }[];
      expiresAt: string;
    }
  | {
      kind: 'api_key';
      apiKey: { id: string; prefix: string; name: string; scopes?: string[]; connectionIds?: string[] | null };
      workspace: { id: string; name: string };
    };

/** Sign-in codes live 5 minutes on the server: waiting longer for the browser is pointless. */
const BROWSER_WAIT_MS = 5 * 60_000;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** The server a login command is about: the argument, --server, SESAME_URL, else the local server. */
function serverFor(ctx: CliContext, url: string | undefined): string {
  const named = url ?? ctx.globals.server ?? (process.env.SESAME_URL?.trim() || undefined);
  if (named) return serverKey(named);
  const local = readLocalServer(ctx.dataDir());
  if (local) return serverKey(local.api);
  throw new AppError('validation_failed', 'Name the Sesame server to sign in to.', {
    hint: 'Run `sesame login https://sesame.example.com` (its address), or start a local one with `sesame start`.',
  });
}

const base64url = (b: Buffer) => b.toString('base64url');

/** PKCE (RFC 7636) with S256: the verifier stays here, the server sees only its hash until the exchange. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = base64url(randomBytes(32));
  return { verifier, challenge: base64url(createHash('sha256').update(verifier).digest()) };
}

function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]]
        : ['xdg-open', [url]];
  try {
    const p = spawn(cmd, args, { detached: true, stdio: 'ignore' });
    p.on('error', () => undefined); // no browser here: the printed URL is the way
    p.unref();
  } catch {
    /* the printed URL is the way */
  }
}

/**
 * The browser sign-in of the contract: a one-off listener on 127.0.0.1 receives the redirect with
 * the code; the state ties it to this attempt and the PKCE verifier to this process.
 */
async function browserLogin(
  ctx: CliContext,
  url: string,
  opts: { browser: boolean; port?: number },
): Promise<{ token: string; expiresAt?: string; email?: string }> {
  const state = base64url(randomBytes(24));
  const { verifier, challenge } = pkcePair();
  let server: Server | undefined;
  try {
    const received = new Promise<{ code?: string; error?: string }>((resolve, reject) => {
      server = createServer((req, res) => {
        const u = new URL(req.url ?? '/', 'http://127.0.0.1');
        if (u.pathname !== '/callback' || u.searchParams.get('state') !== state) {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not this sign-in.\n');
          return;
        }
        const error = u.searchParams.get('error');
        const code = u.searchParams.get('code');
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
          .end(
            `<!doctype html><meta charset="utf-8"><title>Sesame</title><p>${
              error
                ? 'Sign-in refused. You can close this tab.'
                : 'Signed in to the Sesame CLI. You can close this tab.'
            }</p>\n`,
          );
        resolve(error ? { error } : code ? { code } : { error: 'no_code' });
      });
      server.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    const port = (server!.address() as { port: number }).port;
    const redirectUri = `http://127.0.0.1:${port}/callback`;
    const authorize = new URL(`${url}/v1/auth/cli/authorize`);
    authorize.searchParams.set('redirect_uri', redirectUri);
    authorize.searchParams.set('state', state);
    authorize.searchParams.set('code_challenge', challenge);
    authorize.searchParams.set('code_challenge_method', 'S256');
    process.stderr.write(`Open this address to sign in to ${url}:\n\n  ${authorize.href}\n\n`);
    if (opts.browser) openBrowser(authorize.href);
    process.stderr.write('Waiting for the browser (up to 5 minutes)…\n');
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = systemClock.setTimer(BROWSER_WAIT_MS, () =>
        reject(
          new AppError('login_timed_out', 'The browser sign-in was not completed within 5 minutes.', {
            hint: `Run \`sesame login ${url}\` again, or give an API key: \`sesame login ${url} --with-token\`.`,
          }),
        ),
      );
    });
    const got = await Promise.race([received, timeout]).finally(() => timer?.cancel());
    if (!got.code)
      throw new AppError('unauthorized', `The sign-in was refused (${got.error}).`, {
        hint: `Approve the request in the browser, or ask an owner of the workspace to invite you; then run \`sesame login ${url}\` again.`,
      });
    const anonymous = createApiClient({ url, token: '', source: 'login' });
    return anonymous.post<{ token: string; expiresAt: string; email: string }>('/v1/auth/cli/token', {
      code: got.code,
      codeVerifier: verifier,
      redirectUri,
    });
  } finally {
    server?.close();
  }
}

/** Who a credential is, on that server: GET /v1/session. */
export async function session(api: Pick<ApiClient, 'get'>): Promise<Session> {
  return api.get<Session>('/v1/session');
}

export function printSession(ctx: CliContext, target: ApiTarget, s: Session): void {
  const via = { env: 'SESAME_TOKEN', login: 'sesame login', local: 'the local CLI token' }[target.source];
  ctx.out.result({ server: target.url, credential: target.source, ...s }, () =>
    printRecord(
      ctx.out,
      s.kind === 'member'
        ? {
            server: target.url,
            email: s.email,
            role: s.role,
            workspace: `${s.workspace.name} (${s.workspace.id})`,
            'other workspaces':
              s.workspaces
                .filter((w) => w.id !== s.workspace.id)
                .map((w) => `${w.name} (${w.role})`)
                .join(', ') || null,
            'session expires': s.expiresAt,
            'signed in with': via,
          }
        : {
            server: target.url,
            'API key': `${s.apiKey.name} (${s.apiKey.prefix}…)`,
            scopes: s.apiKey.scopes?.join(', ') ?? null,
            connections: s.apiKey.connectionIds ? s.apiKey.connectionIds.join(', ') : 'all',
            workspace: `${s.workspace.name} (${s.workspace.id})`,
            'signed in with': via,
          },
    ),
  );
}

export function loginCommand(): Command {
  return new Command('login')
    .description('sign in to a Sesame server: in the browser, or with an API key on standard input')
    .argument('[url]', 'the server (default: --server, SESAME_URL, or the one running for --data-dir)')
    .option('--with-token', 'read an API key from standard input instead of signing in in the browser')
    .option('--no-browser', 'print the sign-in address without opening a browser')
    .option('--port <port>', 'local port for the browser to return to (default: any free port)')
    .action(
      action(async (ctx, url: string | undefined, o: { withToken?: boolean; browser: boolean; port?: string }) => {
        const server = serverFor(ctx, url);
        let token: string;
        let expiresAt: string | undefined;
        if (o.withToken) {
          if (process.stdin.isTTY) process.stderr.write('Paste the API key, then press Enter and Ctrl-D:\n');
          token = (await readStdin()).split(/\s+/)[0] ?? '';
          if (!token)
            throw new AppError('validation_failed', 'No API key on standard input.', {
              hint: `Pipe it in: \`echo "$SESAME_API_KEY" | sesame login ${server} --with-token\`.`,
            });
        } else {
          const port = o.port === undefined ? undefined : Number(o.port);
          if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
            throw new AppError('validation_failed', '--port must be a port number (0-65535).');
          const r = await browserLogin(ctx, server, { browser: o.browser, ...(port !== undefined ? { port } : {}) });
          token = r.token;
          expiresAt = r.expiresAt;
        }
        // The credential is tried before it is kept: a wrong key is said now, not at the next command.
        const target: ApiTarget = { url: server, token, source: 'login' };
        const s = await session(
          createApiClient(target, ctx.globals.workspace ? { workspace: ctx.globals.workspace } : {}),
        );
        saveLogin(
          process.env,
          server,
          {
            kind: s.kind === 'member' ? 'session' : 'api_key',
            token,
            ...(s.kind === 'member' ? { email: s.email } : {}),
            ...(expiresAt ? { expiresAt } : s.kind === 'member' ? { expiresAt: s.expiresAt } : {}),
          },
          true,
        );
        ctx.out.result({ server, credential: 'login', ...s }, () => {
          ctx.out.line(
            s.kind === 'member'
              ? `Signed in to ${server} as ${s.email} (${s.role} of ${s.workspace.name}).`
              : `Signed in to ${server} with the API key ${s.apiKey.name} (${s.apiKey.prefix}…) of workspace ${s.workspace.name}.`,
          );
          ctx.out.line('Commands use this server unless --server, SESAME_URL or a local server says otherwise.');
        });
      }),
    );
}

export function logoutCommand(): Command {
  return new Command('logout')
    .description('sign out of a server: end the session there and forget it here')
    .argument('[url]', 'the server (default: --server, SESAME_URL, or your default server)')
    .action(
      action(async (ctx, url: string | undefined) => {
        const named = url ?? ctx.globals.server ?? (process.env.SESAME_URL?.trim() || undefined);
        const server = named ? serverKey(named) : readLogins(process.env).default;
        const login = server ? readLogins(process.env).servers[server] : undefined;
        if (!server || !login) {
          ctx.out.result({ server: server ?? null, signedOut: false }, () =>
            ctx.out.line(server ? `Not signed in to ${server}.` : 'Not signed in to any server.'),
          );
          return;
        }
        let ended = true;
        try {
          await createApiClient({ url: server, token: login.token, source: 'login' }).delete('/v1/session');
        } catch (e) {
          // Already expired or revoked, or the server is gone: forgetting it here is what is left.
          if (!isAppError(e)) throw e;
          ended = false;
          if (!['unauthorized', 'session_expired', 'server_unreachable'].includes(e.code)) throw e;
        }
        forgetLogin(process.env, server);
        ctx.out.result({ server, signedOut: true, sessionEnded: ended }, () =>
          ctx.out.line(
            login.kind === 'api_key'
              ? `Forgot the API key for ${server}; the key itself stays valid until revoked (sesame api-keys revoke <id>).`
              : `Signed out of ${server}.`,
          ),
        );
      }),
    );
}

export function whoamiCommand(): Command {
  return new Command('whoami').description('who this CLI acts as, on which server and workspace').action(
    action(async (ctx) => {
      const api = ctx.api();
      printSession(ctx, api.target, await session(api));
    }),
  );
}
