import { Command } from 'commander';
import { action } from '../context.js';

const columns = [
  { key: 'id', label: 'ID' },
  { key: 'name', label: 'NAME' },
  { key: 'shown', label: 'KEY' },
  { key: 'createdAt', label: 'CREATED' },
  { key: 'lastUsedAt', label: 'LAST USED' },
  { key: 'revokedAt', label: 'REVOKED' },
];

export function apiKeysCommand(): Command {
  const cmd = new Command('api-keys').description('API keys of a workspace (shown in full only once, at creation)');
  cmd
    .command('create')
    .description('create an API key')
    .option('--name <name>', 'a label for the key', 'cli')
    .action(
      action(async (ctx, opts: { name: string }) => {
        const c = await ctx.services();
        const { key, info } = await c.apiKeys.create(await ctx.workspaceId(), opts.name, ctx.actor);
        ctx.out.result({ ...info, key }, () => {
          ctx.out.line(`Created API key ${info.id} (${info.name}).`);
          ctx.out.line(`Key (shown once, store it now): ${key}`);
        });
      }),
    );
  cmd
    .command('list')
    .description('list API keys: prefix and last 4 characters only')
    .action(
      action(async (ctx) => {
        const c = await ctx.services();
        const keys = await c.apiKeys.list(await ctx.workspaceId());
        ctx.out.result(keys, () =>
          ctx.out.table(
            keys.map((k) => ({ ...k, shown: `${k.prefix}…${k.last4}` })),
            columns,
          ),
        );
      }),
    );
  cmd
    .command('revoke <id>')
    .description('revoke an API key; requests with it fail from now on')
    .action(
      action(async (ctx, id: string) => {
        const c = await ctx.services();
        const info = await c.apiKeys.revoke(await ctx.workspaceId(), id, ctx.actor);
        ctx.out.result(info, () => ctx.out.line(`Revoked ${info.id} (${info.prefix}…${info.last4}).`));
      }),
    );
  return cmd;
}
