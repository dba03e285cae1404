import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where `sesame start` is listening, kept in its data directory while it runs, so commands in
 * another terminal find it (its ports may have moved off busy development defaults).
 */
export interface LocalServer {
  pid: number;
  /** The API's base URL, e.g. http://127.0.0.1:3000. */
  api: string;
  smtp?: string;
}

const file = (dataDir: string) => join(dataDir, 'server.json');

export function writeLocalServer(dataDir: string, s: Omit<LocalServer, 'pid'>): void {
  writeFileSync(file(dataDir), JSON.stringify({ pid: process.pid, ...s }) + '\n', { mode: 0o600 });
}

export function removeLocalServer(dataDir: string): void {
  const current = readLocalServer(dataDir);
  if (current?.pid === process.pid) rmSync(file(dataDir), { force: true });
}

/** The server running for this data directory, or undefined when none runs (a stale file is ignored). */
export function readLocalServer(dataDir: string): LocalServer | undefined {
  const f = file(dataDir);
  if (!existsSync(f)) return undefined;
  try {
    const v = JSON.parse(readFileSync(f, 'utf8')) as Partial<LocalServer>;
    if (typeof v.pid !== 'number' || typeof v.api !== 'string' || !alive(v.pid)) return undefined;
    return { pid: v.pid, api: v.api, ...(typeof v.smtp === 'string' ? { smtp: v.smtp } : {}) };
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The API key the CLI uses for the server of this data directory, so nothing needs a login on the
 * machine where `sesame init` ran. Owner-only, like the master key beside it.
 */
export const cliTokenFile = (dataDir: string): string => join(dataDir, 'cli-token');

export function readCliToken(dataDir: string): string | undefined {
  try {
    const t = readFileSync(cliTokenFile(dataDir), 'utf8').trim();
    return t || undefined;
  } catch {
    return undefined;
  }
}

export function writeCliToken(dataDir: string, token: string): void {
  const f = cliTokenFile(dataDir);
  writeFileSync(f, token + '\n', { mode: 0o600 });
  chmodSync(f, 0o600);
}
