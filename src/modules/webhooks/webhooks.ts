import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Envelope } from '../../crypto/envelope.js';
import { AppError, notFound } from '../../errors.js';
import { newId } from '../../ids.js';
import type { JobWriter } from '../../queue/job-queue.js';
import type { Transaction } from '../../store/repos.js';
import type {
  Attempt,
  Delivery,
  DeliveryStatus,
  Webhook,
  WebhookEventType,
  WebhookPayload,
  WebhooksRepo,
} from '../../store/webhooks.js';
import type { Audit } from '../audit/audit.js';
import type { DeliveryView, WebhookView } from './schemas.js';
import type { EventKind } from '../events/parse.js';
import type { RecordedEvent } from '../events/processor.js';
import { newWebhookSecret } from './signature.js';
import { checkWebhookUrl, displayUrl, type Resolve, systemResolve } from './url-policy.js';

/**
 * Webhook endpoints of a workspace, and the deliveries owed to them. Registration checks the URL
 * (the delivery loop checks it again, since DNS changes); the signing secret is sealed at rest
 * and shown only in the answer to its creation.
 */

// A Record, not a list, so a new event kind fails to compile until it is offered here too.
const KINDS: Record<EventKind, true> = {
  send: true,
  delivery: true,
  bounce: true,
  complaint: true,
  reject: true,
  delivery_delay: true,
  rendering_failure: true,
  open: true,
  click: true,
  subscription: true,
};
export const WEBHOOK_EVENT_TYPES = ['*', ...(Object.keys(KINDS) as EventKind[])] as const;
export type { WebhookEventType };

/** Deliveries are retried for this long after the event was recorded, then marked failed. */
export const DELIVERY_WINDOW_MS = 24 * 3600_000;

export const secretContext = (webhookId: string): string => `webhook:${webhookId}:secret`;

const view = (w: Webhook): WebhookView => ({
  id: w.id,
  url: w.url,
  description: w.description,
  eventTypes: w.eventTypes,
  allowPrivate: w.allowPrivate,
  createdAt: w.createdAt,
  updatedAt: w.updatedAt,
});

const deliveryView = (d: Delivery, attempts: Attempt[]): DeliveryView => ({
  id: d.id,
  eventId: d.eventId,
  type: d.eventType,
  status: d.status,
  attemptCount: d.attempts,
  createdAt: d.createdAt,
  nextAttemptAt: d.nextAttemptAt,
  expiresAt: d.expiresAt,
  lastStatusCode: d.lastStatusCode,
  lastError: d.lastError,
  finishedAt: d.finishedAt,
  attempts: attempts
    .filter((a) => a.deliveryId === d.id)
    .map((a) => ({
      attempt: a.attempt,
      at: a.at,
      durationMs: a.durationMs,
      statusCode: a.statusCode,
      error: a.error,
      responseExcerpt: a.responseExcerpt,
    })),
});

export function createWebhooks(deps: {
  repo: Pick<WebhooksRepo, 'insert' | 'find' | 'list' | 'deliveries' | 'attempts'>;
  /** Removal takes the webhook's queued deliveries with it, in one transaction. */
  transaction: Transaction;
  clock: Clock;
  config: Pick<Config, 'webhooksAllowPrivate'>;
  envelope: Pick<Envelope, 'seal'>;
  audit: Pick<Audit, 'record'>;
  resolve?: Resolve;
}) {
  const { repo, clock } = deps;
  const resolve = deps.resolve ?? systemResolve;

  async function find(workspaceId: string, id: string): Promise<Webhook> {
    const w = await repo.find(workspaceId, id);
    if (!w) throw notFound(`Webhook ${id}`);
    return w;
  }

  async function deliveries(
    workspaceId: string,
    webhookId: string,
    q: { limit?: number; cursor?: string; status?: DeliveryStatus } = {},
  ): Promise<{ data: DeliveryView[]; nextCursor: string | null }> {
    await find(workspaceId, webhookId);
    const page = await repo.deliveries(workspaceId, webhookId, {
      limit: Math.min(Math.max(q.limit ?? 20, 1), 100),
      ...(q.status ? { status: q.status } : {}),
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    const attempts = await repo.attempts(page.data.map((d) => d.id));
    return { data: page.data.map((d) => deliveryView(d, attempts)), nextCursor: page.nextCursor };
  }

  return {
    async create(
      workspaceId: string,
      input: { url: string; eventTypes: WebhookEventType[]; description?: string; allowPrivate?: boolean },
      actor: string,
    ): Promise<{ webhook: WebhookView; secret: string }> {
      if (input.allowPrivate && !deps.config.webhooksAllowPrivate) {
        throw new AppError(
          'webhook_url_not_allowed',
          'This server does not allow webhooks to private addresses, so "allowPrivate" cannot be set.',
          {
            hint: 'The operator enables private receivers with SESAME_WEBHOOKS_ALLOW_PRIVATE=true; otherwise use a public https URL and leave out "allowPrivate".',
            details: { reason: 'private_not_permitted' },
          },
        );
      }
      const allowPrivate = Boolean(input.allowPrivate);
      const { url } = await checkWebhookUrl(input.url, allowPrivate, resolve);
      const eventTypes: WebhookEventType[] = input.eventTypes.includes('*') ? ['*'] : [...new Set(input.eventTypes)];
      const id = newId('wh', clock.ms());
      const secret = newWebhookSecret();
      const now = clock.now().toISOString();
      const w: Webhook = {
        id,
        workspaceId,
        url: url.toString(),
        description: input.description ?? null,
        eventTypes,
        allowPrivate,
        createdAt: now,
        updatedAt: now,
      };
      await repo.insert({ ...w, secretCiphertext: deps.envelope.seal(secret, secretContext(id)) });
      await deps.audit.record({
        workspaceId,
        actor,
        action: 'webhook.created',
        details: { webhookId: id, url: displayUrl(url), eventTypes, allowPrivate },
      });
      return { webhook: view(w), secret };
    },

    async list(workspaceId: string): Promise<WebhookView[]> {
      return (await repo.list(workspaceId)).map(view);
    },

    /** One webhook with its most recent deliveries and their attempts. */
    async get(workspaceId: string, id: string): Promise<WebhookView & { deliveries: DeliveryView[] }> {
      const w = await find(workspaceId, id);
      return { ...view(w), deliveries: (await deliveries(workspaceId, id, { limit: 10 })).data };
    },

    deliveries,

    /** Pending deliveries go with it: nobody is left to receive them. */
    async remove(workspaceId: string, id: string, actor: string): Promise<void> {
      const w = await find(workspaceId, id);
      const now = clock.now();
      await deps.transaction(async (r) => {
        // One being sent right now stays queued until its attempt ends; it then finds nothing to record.
        for (const d of await r.webhooks.pendingDeliveryIds(id)) await r.jobs.cancel('webhook', d, now);
        await r.webhooks.remove(workspaceId, id);
      });
      await deps.audit.record({
        workspaceId,
        actor,
        action: 'webhook.deleted',
        details: { webhookId: id, url: displayUrl(new URL(w.url)) },
      });
    },

    /** In the event's own transaction: one delivery per matching webhook, queued to go at once. */
    async enqueue(
      tx: { webhooks: Pick<WebhooksRepo, 'subscribed' | 'addDeliveries'>; jobs: Pick<JobWriter, 'enqueue'> },
      e: RecordedEvent,
    ): Promise<number> {
      const hooks = await tx.webhooks.subscribed(e.workspaceId, e.kind);
      if (hooks.length === 0) return 0;
      const payload: WebhookPayload = {
        id: e.id,
        type: e.kind,
        createdAt: e.createdAt,
        data: {
          messageId: e.messageId,
          sesMessageId: e.sesMessageId,
          connectionId: e.connectionId,
          recipients: e.recipients,
          occurredAt: e.occurredAt,
          details: e.details,
        },
      };
      const created = Date.parse(e.createdAt);
      const rows = hooks.map((h) => ({
        id: newId('whd', created),
        webhookId: h.id,
        workspaceId: e.workspaceId,
        eventId: e.id,
        eventType: e.kind,
        payload,
        expiresAt: new Date(created + DELIVERY_WINDOW_MS).toISOString(),
        createdAt: e.createdAt,
      }));
      const added = new Set(await tx.webhooks.addDeliveries(rows));
      for (const d of rows)
        if (added.has(d.id)) await tx.jobs.enqueue('webhook', { id: d.id, group: d.webhookId, runAt: e.createdAt });
      return added.size;
    },
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
