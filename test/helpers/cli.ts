import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container } from '../../src/container.js';
import { buildServer } from '../../src/http/server.js';
import { readCliToken, removeLocalServer, writeCliToken, writeLocalServer } from '../../src/cli/local-server.js';
import { freePort } from './net.js';

export const root = join(import.meta.dirname, '..', '..');
/** The CLI from source, as `node --import tsx src/cli/main.ts …`. */
export const cliArgs = ['--import', 'tsx', join(root, 'src/cli/main.ts')];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The CLI's config directory (its logins) for tests that name none: a fresh one, so a developer's
 * own `sesame login` never decides which server a test talks to.
 */
let isolatedConfig: string | undefined;
export const testConfigDir = (): string => (isolatedConfig ??= mkdtempSync(join(tmpdir(), 'sesame-config-')));

/** Run the CLI as a person would (no stdin unless given), without blocking the test runner's event loop. */
export function runCli(env: NodeJS.ProcessEnv, args: string[], input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...cliArgs, ...args], {
      env: { SESAME_CONFIG_DIR: testConfigDir(), ...env },
      cwd: root,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) p.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += String(d)));
    p.stderr!.on('data', (d) => (stderr += String(d)));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** `sesame sandbox serve` as its own process; resolves with its URL once it listens. */
export async function serveSandbox(env: NodeJS.ProcessEnv): Promise<{ url: string; stop(): Promise<void> }> {
  const proc: ChildProcess = spawn(process.execPath, [...cliArgs, 'sandbox', 'serve', '--quiet', '--port', '0'], {
    env,
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`sandbox did not start: ${out}`)), 60_000);
    proc.stdout!.on('data', (d) => {
      out += String(d);
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
  });
  return {
    url,
    // The sandbox writes its state as it stops: callers remove its directory only afterwards.
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** `sesame start …` as its own process, until it prints its health address; stop() sends SIGTERM and waits. */
export async function startServer(
  env: NodeJS.ProcessEnv,
  args: string[],
): Promise<{ stdout: () => string; stderr: () => string; api: string; stop(): Promise<number | null> }> {
  const proc: ChildProcess = spawn(process.execPath, [...cliArgs, 'start', ...args], {
    env,
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += String(d)));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const api = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sesame start did not come up: ${out}\n${err}`)), 120_000);
    void exited.then(() => reject(new Error(`sesame start exited: ${out}\n${err}`)));
    proc.stdout!.on('data', (d) => {
      out += String(d);
      const m = /Health: (http:\/\/[^/\s]+)\/healthz/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return {
    stdout: () => out,
    stderr: () => err,
    api,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

export type RunningServer = Awaited<ReturnType<typeof startServer>>;

/**
 * The server the CLI under test talks to: `sesame start` for the data directory of `env`, on a
 * free port, without the SMTP relay (and without the send worker when `worker: false`, so a
 * queued message stays queued). It announces itself in the data directory as in real use.
 */
export async function serveForCli(
  env: NodeJS.ProcessEnv,
  opts: { worker?: boolean; args?: string[] } = {},
): Promise<RunningServer> {
  return startServer(env, [
    '--port',
    String(await freePort()),
    '--no-smtp',
    ...(opts.worker === false ? ['--no-worker'] : []),
    ...(opts.args ?? []),
  ]);
}

/**
 * The same in the test process, for tests that build their container themselves: the HTTP API on a
 * free loopback port, announced in the data directory like `sesame start` does, with the local CLI
 * token `sesame init` would have written. No worker runs.
 */
export async function serveInProcess(
  c: Container,
  dataDir: string,
  workspaceId: string,
): Promise<{ api: string; close(): Promise<void> }> {
  const app = await buildServer(c);
  const api = await app.listen({ host: '127.0.0.1', port: 0 });
  writeLocalServer(dataDir, { api });
  if (!readCliToken(dataDir))
    writeCliToken(dataDir, (await c.apiKeys.create(workspaceId, 'Local CLI', 'test', { scopes: ['admin'] })).key);
  return {
    api,
    async close() {
      removeLocalServer(dataDir);
      await app.close();
    },
  };
}
