import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiClient, resolveTarget } from '../../src/cli/api-client.js';
import { removeLocalServer, writeCliToken, writeLocalServer } from '../../src/cli/local-server.js';
import { forgetLogin, readLogins, saveLogin } from '../../src/cli/logins.js';
import { AppError } from '../../src/errors.js';

/** Which server and credential a command uses, and how the API's answers become the CLI's errors. */
const dirs: string[] = [];
function place(): { dataDir: string; env: Record<string, string | undefined> } {
  const root = mkdtempSync(join(tmpdir(), 'sesame-client-'));
  dirs.push(root);
  const dataDir = join(root, 'data');
  return { dataDir, env: { SESAME_CONFIG_DIR: join(root, 'config') } };
}

afterEach(() => {
  for (const d of dirs.splice(0)) {
    removeLocalServer(join(d, 'data'));
    rmSync(d, { recursive: true, force: true });
  }
});

/** The AppError a request ended with. */
const failure = (p: Promise<unknown>): Promise<AppError> =>
  p.then(
    () => {
      throw new Error('did not fail');
    },
    (e: unknown) => e as AppError,
  );

const caught = (fn: () => unknown): AppError => {
  try {
    fn();
  } catch (e) {
    return e as AppError;
  }
  throw new Error('did not throw');
};

describe('which server and credential', () => {
  it('--server or SESAME_URL with SESAME_TOKEN, else the login kept for that server', () => {
    const { dataDir, env } = place();
    expect(
      resolveTarget({ dataDir, env: { ...env, SESAME_URL: 'https://s.example.com/', SESAME_TOKEN: 'ses_x' } }),
    ).toEqual({ url: 'https://s.example.com', token: 'ses_x', source: 'env' });
    saveLogin(env, 'https://s.example.com', { kind: 'session', token: 'sesc_a', email: 'ann@example.com' });
    expect(resolveTarget({ dataDir, env, server: 'https://s.example.com' })).toEqual({
      url: 'https://s.example.com',
      token: 'sesc_a',
      source: 'login',
    });
    const other = caught(() => resolveTarget({ dataDir, env, server: 'https://other.example.com' }));
    expect(other.code).toBe('not_logged_in');
    expect(other.hint).toContain('sesame login https://other.example.com');
  });

  it('with no URL: the server running for the data directory and its cli-token, before the default login', () => {
    const { dataDir, env } = place();
    saveLogin(env, 'https://s.example.com', { kind: 'session', token: 'sesc_a' });
    expect(resolveTarget({ dataDir, env })).toMatchObject({ url: 'https://s.example.com', source: 'login' });
    mkdirSync(dataDir, { recursive: true });
    writeLocalServer(dataDir, { api: 'http://127.0.0.1:3999' });
    const missing = caught(() => resolveTarget({ dataDir, env }));
    expect(missing.code).toBe('not_logged_in');
    expect(missing.message).toContain('cli-token');
    writeCliToken(dataDir, 'ses_local');
    expect(resolveTarget({ dataDir, env })).toEqual({
      url: 'http://127.0.0.1:3999',
      token: 'ses_local',
      source: 'local',
    });
    expect((statSync(join(dataDir, 'cli-token')).mode & 0o777).toString(8)).toBe('600');
  });

  it('nothing running: the data directory of a workspace says so; an empty one names where it looked', () => {
    const { dataDir, env } = place();
    const none = caught(() => resolveTarget({ dataDir, env }));
    expect(none.code).toBe('not_logged_in');
    expect(none.message).toContain(`There is no Sesame workspace in ${dataDir}`);
    expect(none.hint).toContain('--data-dir');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'cli-token'), 'ses_local\n');
    const stopped = caught(() => resolveTarget({ dataDir, env }));
    expect(stopped.code).toBe('server_not_running');
    expect(stopped.hint).toContain('sesame start');
  });

  it('keeps logins owner-only, keyed by server, with a default that moves when one is forgotten', () => {
    const { env } = place();
    saveLogin(env, 'https://a.example.com/', { kind: 'api_key', token: 'ses_a' });
    saveLogin(env, 'https://b.example.com', { kind: 'api_key', token: 'ses_b' });
    expect(readLogins(env).default).toBe('https://a.example.com');
    const dir = env.SESAME_CONFIG_DIR!;
    expect((statSync(dir).mode & 0o777).toString(8)).toBe('700');
    expect((statSync(join(dir, 'logins.json')).mode & 0o777).toString(8)).toBe('600');
    expect(forgetLogin(env, 'https://a.example.com')).toBe(true);
    expect(readLogins(env)).toEqual({
      default: 'https://b.example.com',
      servers: { 'https://b.example.com': { kind: 'api_key', token: 'ses_b' } },
    });
  });
});

describe('answers', () => {
  const target = { url: 'http://sesame.test', token: 'ses_t', source: 'env' as const };
  const answer = (status: number, body: unknown) => async () =>
    new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json' },
    });

  it('an API error becomes the same code, message, hint, details and status (codes this CLI does not know too)', async () => {
    const api = createApiClient(target, {
      fetch: answer(409, {
        error: { code: 'last_owner', message: 'The workspace needs an owner.', hint: 'Make someone else owner first.' },
        requestId: 'req_1',
      }),
    });
    const e = await failure(api.get('/v1/members'));
    expect(e).toBeInstanceOf(AppError);
    expect({ code: e.code, message: e.message, hint: e.hint, status: e.status }).toEqual({
      code: 'last_owner',
      message: 'The workspace needs an owner.',
      hint: 'Make someone else owner first.',
      status: 409,
    });
  });

  it('a refused credential says which one was sent', async () => {
    const api = createApiClient(target, {
      fetch: answer(401, { error: { code: 'unauthorized', message: 'A valid API key is required.', hint: 'x' } }),
    });
    const e = await failure(api.get('/v1/emails'));
    expect(e.code).toBe('unauthorized');
    expect(e.hint).toContain('SESAME_TOKEN');
  });

  it('sends the token and --workspace as Sesame-Workspace; an unreachable or foreign server is said', async () => {
    let seen: Headers | undefined;
    const api = createApiClient(target, {
      workspace: 'staging',
      fetch: async (_u, init) => {
        seen = new Headers(init?.headers);
        return new Response('{"data":[]}', { status: 200 });
      },
    });
    expect(await api.get('/v1/webhooks')).toEqual({ data: [] });
    expect(seen?.get('authorization')).toBe('Bearer ses_t');
    expect(seen?.get('sesame-workspace')).toBe('staging');

    const down = createApiClient(target, {
      fetch: async () => {
        throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      },
    });
    const e = await failure(down.get('/v1/emails'));
    expect(e.code).toBe('server_unreachable');
    expect(e.message).toContain('ECONNREFUSED');

    const proxy = createApiClient(target, { fetch: answer(502, '<html>Bad gateway</html>') });
    const p = await failure(proxy.get('/v1/emails'));
    expect(p.code).toBe('internal_error');
    expect(p.message).toContain('HTTP 502');
  });
});
