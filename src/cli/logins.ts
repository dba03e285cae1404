import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../errors.js';

/**
 * The servers this user signed in to with `sesame login`, kept in their config directory
 * ($XDG_CONFIG_HOME/sesame or ~/.config/sesame; SESAME_CONFIG_DIR overrides), the directory 0700
 * and the file 0600: a token in it acts as the person until it expires or they log out.
 */
export interface Login {
  /** `session`: a member's CLI session (sesc_…); `api_key`: a key given with --with-token. */
  kind: 'session' | 'api_key';
  token: string;
  email?: string;
  expiresAt?: string;
}

export interface LoginFile {
  /** The server commands use when none is named and no local server runs. */
  default?: string;
  servers: Record<string, Login>;
}

export function configDir(env: Record<string, string | undefined> = process.env): string {
  if (env.SESAME_CONFIG_DIR) return env.SESAME_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'sesame');
}

const fileOf = (env: Record<string, string | undefined>) => join(configDir(env), 'logins.json');

/** One spelling per server: scheme, host and port, and a path without its trailing slash. */
export function serverKey(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError('validation_failed', `${url} is not a URL.`, {
      hint: 'Give the address of the Sesame server, e.g. https://sesame.example.com.',
    });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new AppError('validation_failed', `${url} is not an http(s) URL.`, {
      hint: 'Give the address of the Sesame server, e.g. https://sesame.example.com.',
    });
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

export function readLogins(env: Record<string, string | undefined> = process.env): LoginFile {
  const f = fileOf(env);
  if (!existsSync(f)) return { servers: {} };
  try {
    const v = JSON.parse(readFileSync(f, 'utf8')) as Partial<LoginFile>;
    return { ...(typeof v.default === 'string' ? { default: v.default } : {}), servers: v.servers ?? {} };
  } catch {
    throw new AppError('config_invalid', `${f} is not valid JSON.`, {
      hint: `Remove it and sign in again with \`sesame login <url>\`.`,
    });
  }
}

function writeLogins(env: Record<string, string | undefined>, logins: LoginFile): void {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const f = fileOf(env);
  // Written whole and renamed over the old file, so a reader never sees half of it.
  const tmp = `${f}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(logins, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, f);
}

/** Keep a login; the first one (or one made with `makeDefault`) becomes the default server. */
export function saveLogin(
  env: Record<string, string | undefined>,
  server: string,
  login: Login,
  makeDefault = false,
): void {
  const logins = readLogins(env);
  const key = serverKey(server);
  logins.servers[key] = login;
  if (makeDefault || !logins.default || !logins.servers[logins.default]) logins.default = key;
  writeLogins(env, logins);
}

/** Forget a login; the default moves to another kept server, if any. */
export function forgetLogin(env: Record<string, string | undefined>, server: string): boolean {
  const logins = readLogins(env);
  const key = serverKey(server);
  if (!logins.servers[key]) return false;
  delete logins.servers[key];
  if (logins.default === key) {
    const next = Object.keys(logins.servers)[0];
    if (next) logins.default = next;
    else delete logins.default;
  }
  writeLogins(env, logins);
  return true;
}
