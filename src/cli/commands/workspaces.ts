import { Command } from 'commander';
import { action } from '../context.js';

interface Workspace {
  id: string;
  name: string;
  createdAt: string;
  role?: string;
}

export function workspacesCommand(): Command {
  const cmd = new Command('workspaces').description('workspaces: each has its own API keys, connections and audit log');
  cmd
    .command('list')
    .description('list workspaces')
    .action(
      action(async (ctx) => {
        const rows = (await ctx.api().get<{ data: Workspace[] }>('/v1/workspaces')).data;
        ctx.out.result(rows, () =>
          ctx.out.table(rows, [
            { key: 'id', label: 'ID' },
            { key: 'name', label: 'NAME' },
            ...(rows.some((r) => r.role) ? [{ key: 'role', label: 'YOUR ROLE' }] : []),
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
        const api = ctx.api();
        const ws = await api.post<Workspace>('/v1/workspaces', { name });
        // An API key acts in its own workspace only: the new workspace's first key is made by a member
        // (who now owns it), in that workspace.
        const session = await api.get<{ kind: string }>('/v1/session');
        const key =
          session.kind === 'member'
            ? (
                await api.request<{ key: string }>('POST', '/v1/api-keys', {
                  body: { name: 'first key', scopes: ['admin'] },
                  headers: { 'sesame-workspace': ws.id },
                })
              ).body.key
            : undefined;
        ctx.out.result({ ...ws, ...(key ? { apiKey: key } : {}) }, () => {
          ctx.out.line(`Created workspace ${ws.name} (${ws.id}).`);
          if (key) ctx.out.line(`API key (shown once, store it now): ${key}`);
          else ctx.out.line(`Create its keys as a member: sesame --workspace ${ws.name} api-keys create`);
        });
      }),
    );
  return cmd;
}
