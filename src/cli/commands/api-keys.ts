import { Command } from 'commander';
import type { z } from 'zod';
import type { apiKeyInfo } from '../../modules/api-keys/schemas.js';

type ApiKeyInfo = z.infer<typeof apiKeyInfo>;
import { seg } from '../api-client.js';
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
        const { key, ...info } = await ctx
          .api()
          .post<ApiKeyInfo & { key: string }>('/v1/api-keys', { name: opts.name });
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
        const keys = (await ctx.api().get<{ data: ApiKeyInfo[] }>('/v1/api-keys')).data;
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
        const info = await ctx.api().delete<ApiKeyInfo>(`/v1/api-keys/${seg(id)}`);
        ctx.out.result(info, () => ctx.out.line(`Revoked ${info.id} (${info.prefix}…${info.last4}).`));
      }),
    );
  return cmd;
}
