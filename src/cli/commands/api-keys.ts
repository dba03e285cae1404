import { Command } from 'commander';
import type { z } from 'zod';
import type { apiKeyInfo } from '../../modules/api-keys/schemas.js';
import { SCOPES } from '../../modules/operators/permissions.js';
import { seg } from '../api-client.js';
import { action } from '../context.js';

type ApiKeyInfo = z.infer<typeof apiKeyInfo>;

const collect = (v: string, all: string[] = []) => [
  ...all,
  ...v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
];
const scopeHelp = `a scope the key gets (${SCOPES.join(', ')}; admin grants all); repeat or comma-separate`;
const connectionHelp = 'a connection (name or id) the key may use; repeat for several (default: all)';

const columns = [
  { key: 'id', label: 'ID' },
  { key: 'name', label: 'NAME' },
  { key: 'shown', label: 'KEY' },
  { key: 'scopeList', label: 'SCOPES' },
  { key: 'connections', label: 'CONNECTIONS' },
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
    .option('--scope <scope>', `${scopeHelp} (default: send, read)`, collect)
    .option('--connection <connection>', connectionHelp, collect)
    .action(
      action(async (ctx, opts: { name: string; scope?: string[]; connection?: string[] }) => {
        const { key, ...info } = await ctx.api().post<ApiKeyInfo & { key: string }>('/v1/api-keys', {
          name: opts.name,
          ...(opts.scope ? { scopes: opts.scope } : {}),
          ...(opts.connection ? { connectionIds: opts.connection } : {}),
        });
        ctx.out.result({ ...info, key }, () => {
          ctx.out.line(
            `Created API key ${info.id} (${info.name}): ${info.scopes.join(', ')}${info.connectionIds ? ` on ${info.connectionIds.join(', ')}` : ''}.`,
          );
          ctx.out.line(`Key (shown once, store it now): ${key}`);
        });
      }),
    );
  cmd
    .command('list')
    .description('list API keys: prefix and last 4 characters only')
    .action(
      action(async (ctx) => {
        const keys = (await ctx.api().get<{ data: ApiKeyInfo[] }>('/v1/api-keys')).data;
        ctx.out.result(keys, () =>
          ctx.out.table(
            keys.map((k) => ({
              ...k,
              shown: `${k.prefix}…${k.last4}`,
              scopeList: k.scopes.join(','),
              connections: k.connectionIds ? k.connectionIds.join(',') : 'all',
            })),
            columns,
          ),
        );
      }),
    );
  cmd
    .command('update <id>')
    .description("change an API key's scopes or connections (takes effect on its next request)")
    .option('--scope <scope>', `${scopeHelp}; replaces the key's scopes`, collect)
    .option('--connection <connection>', `${connectionHelp}; replaces the list`, collect)
    .option('--all-connections', 'let the key use every connection')
    .action(
      action(async (ctx, id: string, opts: { scope?: string[]; connection?: string[]; allConnections?: boolean }) => {
        const info = await ctx.api().patch<ApiKeyInfo>(`/v1/api-keys/${seg(id)}`, {
          ...(opts.scope ? { scopes: opts.scope } : {}),
          ...(opts.allConnections
            ? { connectionIds: null }
            : opts.connection
              ? { connectionIds: opts.connection }
              : {}),
        });
        ctx.out.result(info, () =>
          ctx.out.line(
            `Updated ${info.id} (${info.prefix}…${info.last4}): ${info.scopes.join(', ')} on ${info.connectionIds ? info.connectionIds.join(', ') : 'every connection'}.`,
          ),
        );
      }),
    );
  cmd
    .command('revoke <id>')
    .description('revoke an API key; requests with it fail from now on')
    .action(
      action(async (ctx, id: string) => {
        const info = await ctx.api().delete<ApiKeyInfo>(`/v1/api-keys/${seg(id)}`);
        ctx.out.result(info, () => ctx.out.line(`Revoked ${info.id} (${info.prefix}…${info.last4}).`));
      }),
    );
  return cmd;
}
