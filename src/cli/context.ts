import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, type Config, type SettingName } from '../config.js';
import { createContainer, type Container } from '../container.js';
import { createEnvelope } from '../crypto/envelope.js';
import { replaceMasterKey, verifyMasterKey, type SealedSecret } from '../crypto/key-check.js';
import { AppError } from '../errors.js';
import { createLogger } from '../logger.js';
import { makePrivateDir, tightenDataDir } from '../store/db.js';
import { plainLogDestination } from './log-format.js';
import { createApiClient, resolveTarget, type ApiClient } from './api-client.js';
import { readLocalServer } from './local-server.js';
import { createOutput, type Output } from './output.js';
import { attachSandbox, type SandboxHandle, type SandboxListen } from './sandbox-env.js';
import { snsCertDir } from '../sandbox/state.js';

/** Flag names of config overrides, so a wrong value names the flag it came from. */
export type FlagNames = Partial<Record<SettingName, string>>;

export interface ServicesOptions {
  flags?: FlagNames;
  /**
   * `create`: make a master key when none is configured and the database holds nothing sealed
   * (init, start). `replace`: make the configured (or a new) key the database's key, after a loss.
   */
  masterKey?: 'create' | 'replace';
}

/** Commands that may create the embedded database; every other command needs one that exists. */
const CREATORS = new Set(['init', 'start', 'worker']);
/** Long-running commands: their log is the only channel for problems, so it includes warnings. */
const SERVERS = new Set(['start', 'worker']);

/** Ctrl-C at a prompt (which says "cancelled"): the command stops and exits 130, as a shell does on SIGINT. */
export class Cancelled extends Error {
  constructor(readonly note?: string) {
    super('cancelled');
  }
}

export interface GlobalOptions {
  json?: boolean;
  dataDir?: string;
  workspace?: string;
  sandbox?: boolean;
  /** --server: the Sesame server resource commands talk to. */
  server?: string;
}

/**
 * Everything one CLI invocation needs, built lazily: commands that only print never open the
 * database, and the container is closed when the command ends.
 */
export class CliContext {
  private container?: Container;
  private client?: ApiClient;
  private sandboxHandle?: SandboxHandle;
  readonly out: Output;
  /** Where a sandbox served by this process listens (`start --sandbox`); otherwise any free ports. */
  sandboxListen?: SandboxListen;
  /** Where the master key is, once services() ran; `created` when it made the key. */
  masterKey: { created: boolean; where: string } = { created: false, where: 'none' };
  /** What `masterKey: 'replace'` did. */
  keyReplacement?: { previousKeyId: string | undefined; unreadable: SealedSecret[] };

  constructor(
    readonly globals: GlobalOptions,
    private readonly env: Record<string, string | undefined> = process.env,
    /** The top-level command (`init`, `emails`, …): decides whether a database may be created. */
    private readonly command?: string,
  ) {
    this.out = createOutput(Boolean(globals.json));
  }

  static from(cmd: Command): CliContext {
    let top = cmd;
    while (top.parent?.parent) top = top.parent;
    return new CliContext(cmd.optsWithGlobals() as GlobalOptions, process.env, top.name());
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

  /**
   * The HTTP API of the server this command talks to (see api-client.ts for which one); the
   * server's settings decide, not this shell's. --workspace becomes the Sesame-Workspace header.
   */
  api(): ApiClient {
    this.client ??= createApiClient(
      resolveTarget({
        ...(this.globals.server ? { server: this.globals.server } : {}),
        dataDir: this.dataDir(),
        env: this.env,
      }),
      { ...(this.globals.workspace ? { workspace: this.globals.workspace } : {}), dataDir: this.dataDir() },
    );
    return this.client;
  }

  /** Config from env and flags alone: no sandbox attached, nothing opened (for checks before start-up). */
  settings(overrides: Record<string, unknown> = {}, flags: FlagNames = {}): Config {
    return loadConfig(this.env, { dataDir: this.dataDir(), ...overrides }, flags);
  }

  /** Config from env and flags; in sandbox mode the standard AWS settings point at the sandbox. */
  async config(overrides: Record<string, unknown> = {}, flags: FlagNames = {}): Promise<Config> {
    // Flag values are checked before a sandbox is started for them.
    this.settings(overrides, flags);
    const env = { ...this.env };
    if (this.sandboxMode) {
      this.sandboxHandle ??= await attachSandbox(this.dataDir(), this.sandboxListen);
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
      // Where SNS reaches this Sesame: the port this process listens on, or the server already
      // running for this data directory (a command in a second terminal).
      env.SESAME_PUBLIC_URL ??=
        overrides.port !== undefined || env.SESAME_PORT
          ? `http://127.0.0.1:${String(overrides.port ?? env.SESAME_PORT)}`
          : (readLocalServer(this.dataDir())?.api ?? 'http://127.0.0.1:3000');
    }
    return loadConfig(env, { dataDir: this.dataDir(), ...overrides }, flags);
  }

  /**
   * The container, built once per invocation. Before it is handed out, the master key is checked
   * against the database (see crypto/key-check.ts): a missing or different key is refused here.
   */
  async services(overrides: Record<string, unknown> = {}, opts: ServicesOptions = {}): Promise<Container> {
    if (this.container) return this.container;
    if (!CREATORS.has(this.command ?? '')) this.requireDatabase();
    let config = await this.config(overrides, opts.flags);
    tightenDataDir(config.dataDir);
    const newKey = opts.masterKey && config.masterKeySource === 'none' ? randomBytes(32) : undefined;
    if (newKey) config = { ...config, masterKey: newKey, masterKeySource: 'file' };
    const platform = this.sandboxHandle?.platform;
    // One-shot commands report their own outcome (a report, an error with its hint): their log shows
    // errors only. Either way a person reads words, not JSON.
    const level = this.env.SESAME_LOG_LEVEL ?? (SERVERS.has(this.command ?? '') ? 'warn' : 'error');
    this.container = await createContainer(config, {
      logger: createLogger(level, plainLogDestination(process.stderr) as unknown as NodeJS.WritableStream),
      ...(platform
        ? {
            platformCredentials: async () => ({
              accessKeyId: platform.accessKeyId,
              secretAccessKey: platform.secretAccessKey,
            }),
          }
        : {}),
    });
    await this.guardMasterKey(this.container, config, newKey, opts.masterKey);
    return this.container;
  }

  /**
   * Check the master key against the database before anything uses the container. A key made for
   * this run (`newKey`) is written to its file only once the database is known to hold nothing it
   * would orphan.
   */
  private async guardMasterKey(
    c: Container,
    config: Config,
    newKey: Buffer | undefined,
    mode: ServicesOptions['masterKey'],
  ): Promise<void> {
    const deps = { repo: c.repos.keyCheck, clock: c.clock };
    const file = config.masterKeyFile;
    if (newKey && mode === 'create')
      await verifyMasterKey({ ...deps, envelope: createEnvelope(undefined), place: { source: 'none', file } });
    if (newKey) writeKeyFile(file, newKey);
    const where = { env: 'the SESAME_MASTER_KEY environment variable', file, none: 'none' }[config.masterKeySource];
    this.masterKey = { created: newKey !== undefined, where };
    const envelope = createEnvelope(config.masterKey);
    if (mode === 'replace') {
      this.keyReplacement = await replaceMasterKey({ ...deps, envelope });
      return;
    }
    const { unreadable } = await verifyMasterKey({
      ...deps,
      envelope,
      place: { source: config.masterKeySource, file },
    });
    if (unreadable.length > 0)
      this.out.warn(
        `${unreadable.length} stored secret(s) were sealed under an earlier master key and cannot be decrypted: ${unreadable
          .map((u) => `${u.kind} ${u.label} (${u.id})`)
          .join(', ')}. Replace them: rotate the access keys of a connection, remove and add a webhook again.`,
      );
  }

  /**
   * The embedded database must exist before anything but init/start/worker opens it: opening
   * creates it, and a read-only command run in the wrong directory would leave a ./data behind.
   */
  private requireDatabase(): void {
    const url = loadConfig(this.env, { dataDir: this.dataDir() }).databaseUrl;
    if (!/^(sqlite|file):/.test(url)) return;
    const path = url.replace(/^(sqlite|file):/, '');
    if (path === ':memory:' || existsSync(path)) return;
    throw this.noWorkspace(`There is no Sesame workspace in ${this.dataDir()} (no database at ${resolve(path)}).`);
  }

  private noWorkspace(message: string): AppError {
    return new AppError('not_found', message, {
      hint: 'Run `sesame init` to create one there, or point at another data directory with --data-dir <dir> (or SESAME_DATA_DIR).',
    });
  }

  async close(): Promise<void> {
    await this.container?.close();
    this.container = undefined;
    await this.sandboxHandle?.close();
    this.sandboxHandle = undefined;
  }
}

/** A new master key file, owner-only; never over an existing one (another process may have made it). */
function writeKeyFile(path: string, key: Buffer): void {
  makePrivateDir(dirname(path));
  try {
    writeFileSync(path, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new AppError('conflict', `The master key file ${path} appeared while this command was starting.`, {
        hint: 'Another Sesame process created it; run the command again to use it.',
      });
    throw e;
  }
  chmodSync(path, 0o600);
}

/** Wrap a command action: build the context, print errors as code/message/hint, always close. */
export function action<A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const ctx = CliContext.from(cmd);
    try {
      await fn(ctx, ...args);
    } catch (e) {
      if (e instanceof Cancelled) {
        // The prompt already said "cancelled"; add what is left to do, if anything.
        if (e.note) process.stderr.write(`${e.note}\n`);
        process.exitCode = 130;
        return;
      }
      const { printError } = await import('./output.js');
      process.exitCode = printError(e, Boolean(ctx.globals.json));
    } finally {
      await ctx.close().catch(() => undefined);
    }
  };
}
