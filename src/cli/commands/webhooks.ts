import { Command } from 'commander';
import { AppError } from '../../errors.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../../modules/webhooks/webhooks.js';
import type { DeliveryView, WebhookView } from '../../modules/webhooks/schemas.js';
import { seg } from '../api-client.js';
import { action } from '../context.js';
import { printRecord } from '../output.js';

const columns = [
  { key: 'id', label: 'ID' },
  { key: 'url', label: 'URL' },
  { key: 'events', label: 'EVENTS' },
  { key: 'description', label: 'DESCRIPTION' },
  { key: 'createdAt', label: 'CREATED' },
];

function eventTypes(list: string[]): WebhookEventType[] {
  const types = list
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = types.filter((t) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t));
  if (types.length === 0 || unknown.length) {
    throw new AppError(
      'validation_failed',
      unknown.length ? `Unknown event type ${unknown.join(', ')}.` : 'Name at least one event type.',
      { hint: `Use one or more of: ${WEBHOOK_EVENT_TYPES.join(', ')}.` },
    );
  }
  return types as WebhookEventType[];
}

export function webhooksCommand(): Command {
  const cmd = new Command('webhooks').description(
    'HTTPS endpoints that receive signed message events (the secret is shown only once, at creation)',
  );
  cmd
    .command('add <url>')
    .description('register an endpoint')
    .option('--events <types...>', `event types (${WEBHOOK_EVENT_TYPES.join(', ')})`, ['*'])
    .option('--description <text>', 'a label')
    .option(
      '--allow-private',
      'allow a private address or http (only when the server sets SESAME_WEBHOOKS_ALLOW_PRIVATE=true)',
    )
    .action(
      action(async (ctx, url: string, o: { events: string[]; description?: string; allowPrivate?: boolean }) => {
        const { secret, ...webhook } = await ctx.api().post<WebhookView & { secret: string }>('/v1/webhooks', {
          url,
          eventTypes: eventTypes(o.events),
          ...(o.description ? { description: o.description } : {}),
          ...(o.allowPrivate ? { allowPrivate: true } : {}),
        });
        ctx.out.result({ ...webhook, secret }, () => {
          ctx.out.line(`Registered webhook ${webhook.id} for ${webhook.eventTypes.join(', ')}.`);
          ctx.out.line(`Signing secret (shown once, store it now): ${secret}`);
        });
      }),
    );
  cmd.command('list').action(
    action(async (ctx) => {
      const hooks = (await ctx.api().get<{ data: WebhookView[] }>('/v1/webhooks')).data;
      ctx.out.result(hooks, () =>
        ctx.out.table(
          hooks.map((w) => ({ ...w, events: w.eventTypes.join(',') })),
          columns,
        ),
      );
    }),
  );
  cmd
    .command('show <id>')
    .description('one endpoint and its recent deliveries')
    .action(
      action(async (ctx, id: string) => {
        const w = await ctx.api().get<WebhookView & { deliveries: DeliveryView[] }>(`/v1/webhooks/${seg(id)}`);
        ctx.out.result(w, () => {
          printRecord(ctx.out, {
            id: w.id,
            url: w.url,
            events: w.eventTypes.join(', '),
            description: w.description,
            'allow private': w.allowPrivate,
            created: w.createdAt,
          });
          ctx.out.line();
          ctx.out.table(
            w.deliveries.map((d) => ({ ...d, last: d.lastStatusCode ?? d.lastError })),
            [
              { key: 'id', label: 'DELIVERY' },
              { key: 'type', label: 'EVENT' },
              { key: 'status', label: 'STATUS' },
              { key: 'attemptCount', label: 'ATTEMPTS' },
              { key: 'last', label: 'LAST RESULT' },
              { key: 'nextAttemptAt', label: 'NEXT' },
            ],
          );
        });
      }),
    );
  cmd.command('remove <id>').action(
    action(async (ctx, id: string) => {
      await ctx.api().delete(`/v1/webhooks/${seg(id)}`);
      ctx.out.result({ removed: id }, () => ctx.out.line(`Removed webhook ${id}; its pending deliveries are dropped.`));
    }),
  );
  return cmd;
}
