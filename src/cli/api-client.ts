import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, type ErrorCode } from '../errors.js';
import { readLogins, serverKey } from './logins.js';
import { cliTokenFile, readCliToken, readLocalServer } from './local-server.js';

/** Which server a command talks to, with which credential, and where each came from. */
export interface ApiTarget {
  url: string;
  token: string;
  /** `env`: SESAME_TOKEN; `login`: `sesame login`; `local`: <data dir>/cli-token. */
  source: 'env' | 'login' | 'local';
}

export interface ResolveOptions {
  /** --server */
  server?: string;
  dataDir: string;
  env: Record<string, string | undefined>;
}

/**
 * The server: --server or SESAME_URL; else the server running for the data directory; else the
 * default login. The credential: SESAME_TOKEN; else the login kept for that server; for the local
 * server, the token `sesame init` left in the data directory.
 */
export function resolveTarget(o: ResolveOptions): ApiTarget {
  const envToken = o.env.SESAME_TOKEN?.trim() || undefined;
  const logins = readLogins(o.env);
  const local = readLocalServer(o.dataDir);
  const named = o.server ?? (o.env.SESAME_URL?.trim() || undefined);
  if (named) {
    const url = serverKey(named);
    const isLocal = local !== undefined && serverKey(local.api) === url;
    if (envToken) return { url, token: envToken, source: 'env' };
    const login = logins.servers[url];
    if (login) return { url, token: login.token, source: 'login' };
    const localToken = isLocal ? readCliToken(o.dataDir) : undefined;
    if (localToken) return { url, token: localToken, source: 'local' };
    throw new AppError('not_logged_in', `Not signed in to ${url}.`, {
      hint: `Run \`sesame login ${url}\` (or \`sesame login ${url} --with-token\` to give an API key), or set SESAME_TOKEN.`,
    });
  }
  if (local) {
    const url = serverKey(local.api);
    if (envToken) return { url, token: envToken, source: 'env' };
    const token = readCliToken(o.dataDir);
    if (token) return { url, token, source: 'local' };
    const login = logins.servers[url];
    if (login) return { url, token: login.token, source: 'login' };
    throw new AppError(
      'not_logged_in',
      `The server of ${o.dataDir} runs at ${url}, but there is no token for it (${cliTokenFile(o.dataDir)} is missing).`,
      { hint: `Run \`sesame init\` to write it, or sign in with \`sesame login ${url}\`.` },
    );
  }
  if (logins.default && logins.servers[logins.default]) {
    const url = logins.default;
    if (envToken) return { url, token: envToken, source: 'env' };
    return { url, token: logins.servers[url]!.token, source: 'login' };
  }
  if (existsSync(cliTokenFile(o.dataDir)) || existsSync(join(o.dataDir, 'sesame.db')))
    throw new AppError('server_not_running', `No Sesame server is running for ${o.dataDir}.`);
  throw new AppError(
    'not_logged_in',
    `There is no Sesame workspace in ${o.dataDir}, and you are not signed in to a Sesame server.`,
    {
      hint: `Run \`sesame init\` and \`sesame start\` to create one there, point at another data directory with --data-dir <dir> (or SESAME_DATA_DIR), or sign in to a server with \`sesame login <url>\`.`,
    },
  );
}

export interface RequestOptions {
  body?: unknown;
  /** A text body (CSV) instead of JSON, with its content type. */
  text?: { body: string; contentType: string };
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** The HTTP API as the CLI uses it: one request at a time, errors as the API's own AppError. */
export function createApiClient(
  target: ApiTarget,
  opts: { workspace?: string; dataDir?: string; fetch?: typeof fetch } = {},
) {
  const doFetch = opts.fetch ?? fetch;

  function refused(status: number, e: { code: string; message: string; hint?: string; details?: unknown }): AppError {
    let hint = e.hint ?? '';
    // The server's hint for a refused credential speaks to an API client; say which one the CLI sent.
    if (e.code === 'unauthorized' || e.code === 'session_expired')
      hint =
        target.source === 'env'
          ? `The server at ${target.url} refused SESAME_TOKEN: check it, or unset it to use your login.`
          : target.source === 'local'
            ? `The server at ${target.url} refused the local CLI token (${cliTokenFile(opts.dataDir ?? '.')}): run \`sesame init\` to write a new one, or sign in with \`sesame login ${target.url}\`.`
            : `Your sign-in to ${target.url} is no longer valid: run \`sesame login ${target.url}\` again.`;
    const details =
      e.details && typeof e.details === 'object' && !Array.isArray(e.details)
        ? (e.details as Record<string, unknown>)
        : undefined;
    // Codes come from the server, which may know codes this CLI does not: status and hint are given.
    return new AppError(e.code as ErrorCode, e.message, { status, hint, ...(details ? { details } : {}) });
  }

  async function send(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const url = new URL(`${target.url}${path}`);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = {
      ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
      accept: 'application/json',
      ...(opts.workspace ? { 'sesame-workspace': opts.workspace } : {}),
      ...o.headers,
    };
    let body: string | undefined;
    if (o.text) {
      headers['content-type'] = o.text.contentType;
      body = o.text.body;
    } else if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.body);
    }
    let res: Response;
    try {
      res = await doFetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new AppError(
        'server_unreachable',
        `Could not reach the Sesame server at ${target.url}: ${cause?.code ?? cause?.message ?? (e as Error).message}.`,
      );
    }
    if (res.ok) return res;
    const text = await res.text();
    let parsed: { error?: { code?: unknown; message?: unknown; hint?: unknown; details?: unknown } } | undefined;
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    const err = parsed?.error;
    if (err && typeof err.code === 'string' && typeof err.message === 'string')
      throw refused(res.status, {
        code: err.code,
        message: err.message,
        ...(typeof err.hint === 'string' ? { hint: err.hint } : {}),
        ...(err.details !== undefined ? { details: err.details } : {}),
      });
    throw new AppError(
      res.status >= 500 ? 'internal_error' : 'server_unreachable',
      `The server at ${target.url} answered ${method} ${path} with HTTP ${res.status}, not a Sesame answer.`,
      { status: res.status >= 500 ? 500 : 503 },
    );
  }

  return {
    target,
    /** A JSON request; the parsed body (undefined for 204). */
    async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<ApiResponse<T>> {
      const res = await send(method, path, o);
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
    },
    async get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
      return (await this.request<T>('GET', path, query ? { query } : {})).body;
    },
    async post<T>(path: string, body?: unknown, query?: RequestOptions['query']): Promise<T> {
      return (
        await this.request<T>('POST', path, { ...(body !== undefined ? { body } : {}), ...(query ? { query } : {}) })
      ).body;
    },
    async patch<T>(path: string, body: unknown): Promise<T> {
      return (await this.request<T>('PATCH', path, { body })).body;
    },
    async put<T>(path: string, body: unknown): Promise<T> {
      return (await this.request<T>('PUT', path, { body })).body;
    },
    async delete<T>(path: string, query?: RequestOptions['query']): Promise<T> {
      return (await this.request<T>('DELETE', path, query ? { query } : {})).body;
    },
    /**
     * A streamed answer (NDJSON): every line but the last goes to `onLine`; the last holds
     * `{ result }` or `{ error }`.
     */
    async stream<T>(method: string, path: string, onLine: (line: unknown) => void): Promise<T> {
      const res = await send(method, path, { headers: { accept: 'application/x-ndjson' } });
      if (!res.body || !(res.headers.get('content-type') ?? '').includes('ndjson')) return (await res.json()) as T;
      const decoder = new TextDecoder();
      let buffered = '';
      let last: { result?: T; error?: { code: string; message: string; hint?: string; status?: number } } = {};
      const take = (l: string) => {
        if (!l.trim()) return;
        const v = JSON.parse(l) as typeof last;
        if ('result' in v || 'error' in v) last = v;
        else onLine(v);
      };
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buffered.indexOf('\n')) >= 0) {
          take(buffered.slice(0, i));
          buffered = buffered.slice(i + 1);
        }
      }
      take(buffered);
      if (last.error) throw refused(last.error.status ?? 500, last.error);
      if (!('result' in last))
        throw new AppError('server_unreachable', `The server at ${target.url} ended the answer to ${path} early.`);
      return last.result as T;
    },
    /** A text answer (templates, CSV). */
    async text(method: string, path: string, o: RequestOptions = {}): Promise<string> {
      return (await send(method, path, { ...o, headers: { accept: '*/*', ...o.headers } })).text();
    },
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;

/** A path segment from what a person typed (an id, a name, an address). */
export const seg = (s: string): string => encodeURIComponent(s);
