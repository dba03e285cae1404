import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CSRF_HEADER, SESSION_COOKIE, WORKSPACE_COOKIE } from '../http/auth.js';

/** An error as every client of the API shows it: the same code, message and hint. */
export interface ApiError {
  code: string;
  message: string;
  hint: string;
  details?: Record<string, unknown>;
}

export type ApiResult<T> = { ok: true; status: number; data: T } | { ok: false; status: number; error: ApiError };

/**
 * The console's way to the API: every read and change is a request to `/v1`, made in-process with
 * the person's own session (so the API's checks, limits and audit apply exactly as for the CLI).
 * The console holds no business logic; it renders what the API answers.
 */
export interface ConsoleApi {
  get<T>(url: string, query?: Record<string, string | number | undefined>): Promise<ApiResult<T>>;
  send<T>(method: 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<ApiResult<T>>;
  /** A non-JSON answer (downloads: CSV, templates). */
  raw(url: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }>;
}

export function consoleApi(app: FastifyInstance, req: FastifyRequest): ConsoleApi {
  const session = req.cookies[SESSION_COOKIE] ?? '';
  const workspace = req.cookies[WORKSPACE_COOKIE];
  const principal = req.principal as { kind: string; csrfToken?: string } | null;
  const headers: Record<string, string> = {
    cookie: `${SESSION_COOKIE}=${session}${workspace ? `; ${WORKSPACE_COOKIE}=${workspace}` : ''}`,
    // The console's own form post was checked against this token already (auth.ts); the API checks it again.
    ...(principal?.kind === 'member' && principal.csrfToken ? { [CSRF_HEADER]: principal.csrfToken } : {}),
  };

  async function call<T>(method: string, url: string, body?: unknown): Promise<ApiResult<T>> {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    let json: unknown;
    try {
      json = res.body ? JSON.parse(res.body) : undefined;
    } catch {
      json = undefined;
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, status: res.statusCode, data: json as T };
    const error = (json as { error?: ApiError } | undefined)?.error ?? {
      code: 'internal_error',
      message: `The API answered ${res.statusCode}.`,
      hint: 'Try again; if it persists, check the server log for the request id.',
    };
    return { ok: false, status: res.statusCode, error };
  }

  return {
    get: (url, query) => {
      const u = new URLSearchParams();
      for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') u.set(k, String(v));
      const q = u.toString();
      return call('GET', q ? `${url}?${q}` : url);
    },
    send: (method, url, body) => call(method, url, body),
    raw: async (url) => {
      const res = await app.inject({ method: 'GET', url, headers });
      return { status: res.statusCode, body: res.body, headers: res.headers };
    },
  };
}
