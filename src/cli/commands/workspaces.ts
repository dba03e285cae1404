import { Command } from 'commander';
import { action } from '../context.js';

export function workspacesCommand(): Command {
  const cmd = new Command('workspaces').description('workspaces: each has its own API keys, connections and audit log');
  cmd
    .command('list')
    .description('list workspaces')
    .action(
      action(async (ctx) => {
        const c = await ctx.services();
        const rows = await c.workspaces.list();
        ctx.out.result(rows, () =>
          ctx.out.table(rows, [
            { key: 'id', label: 'ID' },
            { key: 'name', label: 'NAME' },
            { key: 'createdAt', label: 'CREATED' },
          ]),
        );
      }),
    );
  cmd
    .command('create <name>')
    .description('create a workspace and its first API key (shown once)')
    .action(
      action(async (ctx, name: string) => {
        const c = await ctx.services();
        const ws = await c.workspaces.create(name, ctx.actor);
        const { key } = await c.apiKeys.create(ws.id, 'first key', ctx.actor, { scopes: ['admin'] });
        ctx.out.result({ ...ws, apiKey: key }, () => {
          ctx.out.line(`Created workspace ${ws.name} (${ws.id}).`);
          ctx.out.line(`API key (shown once, store it now): ${key}`);
        });
      }),
    );
  return cmd;
}
