import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { printRecord } from '../output.js';

/** Create the database, the default workspace and its first API key (shown once). Idempotent. */
export async function initialize(
  ctx: CliContext,
  opts: { workspace?: string; newKey?: boolean } = {},
): Promise<{
  created: boolean;
  masterKey: { created: boolean; where: string };
  workspace: { id: string; name: string };
  apiKey?: string;
  databaseUrl: string;
}> {
  const masterKey = ctx.ensureMasterKey();
  const c = await ctx.services();
  const name = opts.workspace ?? 'default';
  const existing = (await c.workspaces.list()).find((w) => w.name === name);
  const workspace = existing ?? (await c.workspaces.create(name, ctx.actor));
  let apiKey: string | undefined;
  if (!existing || opts.newKey)
    apiKey = (await c.apiKeys.create(workspace.id, existing ? 'cli' : 'first key', ctx.actor)).key;
  const databaseUrl = c.config.databaseUrl.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
  return {
    created: !existing,
    masterKey,
    workspace: { id: workspace.id, name: workspace.name },
    ...(apiKey ? { apiKey } : {}),
    databaseUrl,
  };
}

export function printInit(ctx: CliContext, r: Awaited<ReturnType<typeof initialize>>): void {
  ctx.out.result(r, () => {
    printRecord(ctx.out, {
      database: r.databaseUrl,
      workspace: `${r.workspace.name} (${r.workspace.id})`,
      'master key': `${r.masterKey.where}${r.masterKey.created ? ' (created; back it up: without it stored secrets cannot be decrypted)' : ''}`,
    });
    if (r.apiKey) {
      ctx.out.line();
      ctx.out.line(`API key (shown once, store it now): ${r.apiKey}`);
    } else {
      ctx.out.line('Already initialised. Create another API key with `sesame api-keys create`.');
    }
  });
}

export function initCommand(): Command {
  return new Command('init')
    .description('create the database, the default workspace, its first API key and (embedded setup) a master key')
    .option('--workspace-name <name>', 'name of the first workspace', 'default')
    .option('--new-key', 'also create a new API key when already initialised')
    .action(
      action(async (ctx, opts: { workspaceName: string; newKey?: boolean }) => {
        printInit(
          ctx,
          await initialize(ctx, { workspace: opts.workspaceName, ...(opts.newKey ? { newKey: true } : {}) }),
        );
      }),
    );
}
