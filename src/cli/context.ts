import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, masterKeyPath, type Config } from '../config.js';
import { createContainer, type Container } from '../container.js';
import { AppError } from '../errors.js';
import { createLogger } from '../logger.js';
import { createOutput, type Output } from './output.js';
import { attachSandbox, type SandboxHandle } from './sandbox-env.js';
import { snsCertDir } from '../sandbox/state.js';

export interface GlobalOptions {
  json?: boolean;
  dataDir?: string;
  workspace?: string;
  sandbox?: boolean;
}

/**
 * Everything one CLI invocation needs, built lazily: commands that only print never open the
 * database, and the container is closed when the command ends.
 */
export class CliContext {
  private container?: Container;
  private sandboxHandle?: SandboxHandle;
  readonly out: Output;

  constructor(
    readonly globals: GlobalOptions,
    private readonly env: Record<string, string | undefined> = process.env,
  ) {
    this.out = createOutput(Boolean(globals.json));
  }

  static from(cmd: Command): CliContext {
    return new CliContext(cmd.optsWithGlobals() as GlobalOptions);
  }

  get actor(): string {
    let user = 'unknown';
    try {
      user = userInfo().username;
    } catch {
      /* no passwd entry in some containers */
    }
    return `cli:${user}`;
  }

  get sandboxMode(): boolean {
    return Boolean(this.globals.sandbox) || ['true', '1', 'yes'].includes(this.env.SESAME_SANDBOX ?? '');
  }

  dataDir(): string {
    return resolve(this.globals.dataDir ?? this.env.SESAME_DATA_DIR ?? './data');
  }

  /** Config from env and flags; in sandbox mode the standard AWS settings point at the sandbox. */
  async config(overrides: Record<string, unknown> = {}): Promise<Config> {
    const env = { ...this.env };
    if (this.sandboxMode) {
      this.sandboxHandle ??= await attachSandbox(this.dataDir(), { port: overrides.sandboxPort as number | undefined });
      const h = this.sandboxHandle;
      env.AWS_ENDPOINT_URL = h.url;
      env.AWS_ACCESS_KEY_ID = h.platform.accessKeyId;
      env.AWS_SECRET_ACCESS_KEY = h.platform.secretAccessKey;
      delete env.AWS_SESSION_TOKEN;
      delete env.AWS_PROFILE;
      env.SESAME_CONSOLE_URL ??= h.url;
      env.SESAME_TEMPLATE_BUCKET ??= h.templateBucket;
      env.SESAME_SANDBOX = 'true';
      // The sandbox SNS delivers SES events to this server, signed with a certificate it leaves
      // in the data directory: trusted from there, in sandbox mode only.
      env.SESAME_SNS_CERT_DIR ??= snsCertDir(this.dataDir());
      // Domains are checked against the records published in the sandbox DNS.
      if (h.dns) env.SESAME_DNS_SERVERS ??= h.dns;
      env.SESAME_PUBLIC_URL ??= `http://127.0.0.1:${String(overrides.port ?? env.SESAME_PORT ?? 3000)}`;
    }
    const { sandboxPort: _ignored, ...rest } = overrides;
    return loadConfig(env, { dataDir: this.dataDir(), ...rest });
  }

  async services(overrides: Record<string, unknown> = {}): Promise<Container> {
    if (this.container) return this.container;
    const config = await this.config(overrides);
    const platform = this.sandboxHandle?.platform;
    this.container = await createContainer(config, {
      logger: createLogger(this.env.SESAME_LOG_LEVEL ?? 'warn', process.stderr),
      ...(platform
        ? {
            platformCredentials: async () => ({
              accessKeyId: platform.accessKeyId,
              secretAccessKey: platform.secretAccessKey,
            }),
          }
        : {}),
    });
    return this.container;
  }

  /** The workspace a command acts on: --workspace, or the only/default one. */
  async workspaceId(): Promise<string> {
    const c = await this.services();
    if (this.globals.workspace) return (await c.workspaces.get(this.globals.workspace)).id;
    const all = await c.workspaces.list();
    if (all.length === 0)
      throw new AppError('not_found', 'There is no workspace yet.', { hint: 'Run `sesame init` first.' });
    const preferred = all.find((w) => w.name === 'default') ?? all[0]!;
    return preferred.id;
  }

  async close(): Promise<void> {
    await this.container?.close();
    this.container = undefined;
    await this.sandboxHandle?.close();
    this.sandboxHandle = undefined;
  }

  /** Ensure a master key exists for the embedded setup; returns where it is kept. */
  ensureMasterKey(): { created: boolean; where: string } {
    if (this.env.SESAME_MASTER_KEY) return { created: false, where: 'the SESAME_MASTER_KEY environment variable' };
    const path = masterKeyPath(this.dataDir());
    if (existsSync(path)) return { created: false, where: path };
    mkdirSync(this.dataDir(), { recursive: true });
    writeFileSync(path, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    chmodSync(path, 0o600);
    return { created: true, where: path };
  }
}

/** Wrap a command action: build the context, print errors as code/message/hint, always close. */
export function action<A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const ctx = CliContext.from(cmd);
    try {
      await fn(ctx, ...args);
    } catch (e) {
      const { printError } = await import('./output.js');
      process.exitCode = printError(e, Boolean(ctx.globals.json));
    } finally {
      await ctx.close().catch(() => undefined);
    }
  };
}
