import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { createEnvelope } from '../../crypto/envelope.js';
import type { Container } from '../../container.js';
import { isAppError } from '../../errors.js';
import { cliTokenFile, readCliToken, readLocalServer, writeCliToken } from '../local-server.js';
import { printRecord } from '../output.js';

/**
 * The API key the CLI uses on this machine for the server of this data directory
 * (`<data dir>/cli-token`, 0600), so the resource commands need no login where init ran. A token
 * that no longer works (revoked, or from another database) is replaced.
 */
async function ensureCliToken(ctx: CliContext, c: Container, workspaceId: string): Promise<void> {
  const current = readCliToken(ctx.dataDir());
  if (current) {
    try {
      await c.apiKeys.authenticate(current);
      return;
    } catch (e) {
      if (!isAppError(e) || e.code !== 'unauthorized') throw e;
    }
  }
  const { key } = await c.apiKeys.create(workspaceId, 'Local CLI', ctx.actor, { scopes: ['admin'] });
  writeCliToken(ctx.dataDir(), key);
}

/** Create the database, the default workspace and its first API key (shown once). Idempotent. */
export async function initialize(
  ctx: CliContext,
  opts: { workspace?: string; newKey?: boolean; ownerEmail?: string } = {},
): Promise<{
  created: boolean;
  /** A one-time sign-in link for the owner named with --owner-email. */
  signInLink?: { email: string; url: string; expiresAt: string };
  masterKey: { created: boolean; where: string };
  workspace: { id: string; name: string };
  apiKey?: string;
  databaseUrl: string;
  cliToken: string;
}> {
  const c = await ctx.services({}, { masterKey: 'create' });
  const masterKey = ctx.masterKey;
  const name = opts.workspace ?? 'default';
  const existing = (await c.workspaces.list()).find((w) => w.name === name);
  const workspace = existing ?? (await c.workspaces.create(name, ctx.actor));
  let apiKey: string | undefined;
  if (!existing || opts.newKey)
    apiKey = (await c.apiKeys.create(workspace.id, existing ? 'cli' : 'first key', ctx.actor, { scopes: ['admin'] }))
      .key;
  let signInLink: { email: string; url: string; expiresAt: string } | undefined;
  if (opts.ownerEmail) {
    const owner = await c.members.addOwner(workspace.id, opts.ownerEmail, ctx.actor);
    signInLink = { email: owner.email, ...(await signInLinkFor(ctx, owner.email)) };
  }
  await ensureCliToken(ctx, c, workspace.id);
  const databaseUrl = c.config.databaseUrl.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
  return {
    created: !existing,
    masterKey,
    workspace: { id: workspace.id, name: workspace.name },
    ...(apiKey ? { apiKey } : {}),
    ...(signInLink ? { signInLink } : {}),
    databaseUrl,
    cliToken: cliTokenFile(ctx.dataDir()),
  };
}

/** A one-time sign-in link on the server of this data directory (the running one, if any). */
export async function signInLinkFor(ctx: CliContext, email: string): Promise<{ url: string; expiresAt: string }> {
  const c = await ctx.services();
  const link = await c.signIn.createLink(email, ctx.actor);
  const running = readLocalServer(ctx.dataDir());
  if (!running) return link;
  const u = new URL(link.url);
  return { ...link, url: `${running.api.replace(/\/$/, '')}${u.pathname}${u.search}` };
}

export function printInit(ctx: CliContext, r: Awaited<ReturnType<typeof initialize>>): void {
  ctx.out.result(r, () => {
    printRecord(ctx.out, {
      database: r.databaseUrl,
      workspace: `${r.workspace.name} (${r.workspace.id})`,
      'master key': `${r.masterKey.where}${r.masterKey.created ? ' (created; back it up: without it stored secrets cannot be decrypted)' : ''}`,
      'CLI token': `${r.cliToken} (commands on this machine use it to reach the server of this data directory)`,
    });
    if (r.signInLink) {
      ctx.out.line();
      ctx.out.line(
        `Sign in as ${r.signInLink.email} (one-time link, until ${r.signInLink.expiresAt}): ${r.signInLink.url}`,
      );
    }
    if (r.apiKey) {
      ctx.out.line();
      ctx.out.line(`API key (shown once, store it now): ${r.apiKey}`);
    } else {
      ctx.out.line('Already initialised. Create another API key with `sesame api-keys create`.');
    }
  });
}

/**
 * The master key is lost for good: make the configured key (SESAME_MASTER_KEY, the key file, or a new
 * file) the database's key, and name the secrets sealed under the old one, which are lost with it.
 */
async function replaceLostMasterKey(ctx: CliContext): Promise<void> {
  const c = await ctx.services({}, { masterKey: 'replace' });
  const r = ctx.keyReplacement!;
  const keyId = createEnvelope(c.config.masterKey).keyId!;
  const changed = r.previousKeyId !== keyId;
  if (changed)
    await c.audit.record({
      workspaceId: null,
      actor: ctx.actor,
      action: 'master_key.replaced',
      details: { previousKeyId: r.previousKeyId ?? null, keyId, unreadableSecrets: r.unreadable.length },
    });
  const unreadable = r.unreadable.map((u) => ({ kind: u.kind, id: u.id, name: u.label }));
  ctx.out.result({ masterKey: ctx.masterKey, keyId, previousKeyId: r.previousKeyId ?? null, unreadable }, () => {
    printRecord(ctx.out, {
      'master key': `${ctx.masterKey.where}${ctx.masterKey.created ? ' (created; back it up)' : ''}`,
      'key id': keyId,
      'replaced key id': r.previousKeyId ?? '-',
    });
    if (!changed && unreadable.length === 0) {
      ctx.out.line("This is already the database's master key; nothing was replaced.");
      return;
    }
    ctx.out.line();
    if (unreadable.length === 0) ctx.out.line('No stored secret was sealed under the lost key.');
    else {
      ctx.out.line(`${unreadable.length} stored secret(s) were sealed under the lost key and cannot be recovered:`);
      for (const u of unreadable)
        ctx.out.line(
          u.kind === 'connection'
            ? `  connection ${u.name} (${u.id}): rotate its access keys with \`sesame aws rotate-keys ${u.name}\``
            : `  webhook ${u.name} (${u.id}): remove it and add it again; give the receiver the new signing secret`,
        );
    }
  });
}

export function initCommand(): Command {
  return new Command('init')
    .description('create the database, the default workspace, its first API key and (embedded setup) a master key')
    .option('--workspace-name <name>', 'name of the first workspace', 'default')
    .option('--new-key', 'also create a new API key when already initialised')
    .option('--owner-email <email>', 'make this person an owner and print a one-time sign-in link for them')
    .option(
      '--replace-lost-master-key',
      "the master key is lost for good: make the configured key (or a new one) the database's key; secrets sealed under the old key are lost",
    )
    .action(
      action(
        async (
          ctx,
          opts: { workspaceName: string; newKey?: boolean; ownerEmail?: string; replaceLostMasterKey?: boolean },
        ) => {
          if (opts.replaceLostMasterKey) return replaceLostMasterKey(ctx);
          printInit(
            ctx,
            await initialize(ctx, {
              workspace: opts.workspaceName,
              ...(opts.newKey ? { newKey: true } : {}),
              ...(opts.ownerEmail ? { ownerEmail: opts.ownerEmail } : {}),
            }),
          );
        },
      ),
    );
}
