import { existsSync, readFileSync } from 'node:fs';
import { handleAdmin } from './admin-http.js';
import { SandboxError } from './errors.js';
import { createSandbox } from './index.js';
import { endpointPath } from './state.js';

/**
 * Talks to the sandbox of a data directory: over the admin HTTP API when a sandbox process is
 * running (found through endpoint.json and a live pid), else directly on its state file. Both
 * paths go through the same admin routes, so the CLI behaves the same either way.
 */
export interface AdminClient {
  mode: 'running' | 'offline';
  url: string | undefined;
  pid: number | undefined;
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export function runningEndpoint(dataDir: string): { url: string; pid: number; dns?: string } | undefined {
  const file = endpointPath(dataDir);
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as { url?: unknown; pid?: unknown; dns?: unknown };
    if (typeof info.url !== 'string' || typeof info.pid !== 'number' || !pidAlive(info.pid)) return undefined;
    return { url: info.url, pid: info.pid, ...(typeof info.dns === 'string' ? { dns: info.dns } : {}) };
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function decode<T>(status: number, text: string): Promise<T> {
  const value = text ? (JSON.parse(text) as unknown) : undefined;
  if (status >= 400) {
    const err = (value as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new SandboxError(err?.code ?? 'SandboxError', err?.message ?? `sandbox admin API answered ${status}`, status);
  }
  return value as T;
}

export function connectAdmin(dataDir: string): AdminClient {
  const running = runningEndpoint(dataDir);
  if (running) {
    return {
      mode: 'running',
      url: running.url,
      pid: running.pid,
      async call<T>(method: string, path: string, body?: unknown) {
        let res: Response;
        try {
          res = await fetch(`${running.url}/_sandbox${path}`, {
            method,
            ...(body !== undefined
              ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
              : {}),
            signal: AbortSignal.timeout(10_000),
          });
        } catch (e) {
          throw new SandboxError(
            'SandboxUnreachable',
            `The sandbox at ${running.url} did not answer: ${(e as Error).message}`,
            503,
          );
        }
        return decode<T>(res.status, await res.text());
      },
    };
  }
  const sandbox = createSandbox({ dataDir });
  return {
    mode: 'offline',
    url: undefined,
    pid: undefined,
    async call<T>(method: string, path: string, body?: unknown) {
      const q = path.indexOf('?');
      const res = await handleAdmin({
        admin: sandbox.admin,
        method,
        rawPath: `/_sandbox${q < 0 ? path : path.slice(0, q)}`,
        rawQuery: q < 0 ? '' : path.slice(q + 1),
        headers: body !== undefined ? { 'content-type': 'application/json' } : {},
        body: body !== undefined ? Buffer.from(JSON.stringify(body)) : Buffer.alloc(0),
        url: undefined,
      });
      return decode<T>(res.status, res.body.toString());
    },
  };
}
