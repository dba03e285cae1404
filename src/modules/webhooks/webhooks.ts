import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Envelope } from '../../crypto/envelope.js';
import { AppError, notFound } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Executor } from '../../store/db.js';
import type { Db } from '../../store/db.js';
import type { Audit } from '../audit/audit.js';
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
export type WebhookEventType = EventKind | '*';

/** Deliveries are retried for this long after the event was recorded, then marked failed. */
export const DELIVERY_WINDOW_MS = 24 * 3600_000;

export const secretContext = (webhookId: string): string => `webhook:${webhookId}:secret`;

export interface WebhookView {
  id: string;
  url: string;
  description: string | null;
  eventTypes: WebhookEventType[];
  allowPrivate: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface AttemptView {
  attempt: number;
  at: string;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  type: string;
  status: 'pending' | 'delivered' | 'failed';
  attemptCount: number;
  createdAt: string;
  nextAttemptAt: string | null;
  expiresAt: string;
  lastStatusCode: number | null;
  lastError: string | null;
  finishedAt: string | null;
  attempts: AttemptView[];
}

type WebhookRow = {
  id: string;
  url: string;
  description: string | null;
  event_types: string;
  allow_private: number;
  created_at: string;
  updated_at: string;
};

const view = (r: WebhookRow): WebhookView => ({
  id: r.id,
  url: r.url,
  description: r.description,
  eventTypes: JSON.parse(r.event_types) as WebhookEventType[],
  allowPrivate: r.allow_private === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const VIEW_COLUMNS = ['id', 'url', 'description', 'event_types', 'allow_private', 'created_at', 'updated_at'] as const;

export function createWebhooks(deps: {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'webhooksAllowPrivate'>;
  envelope: Pick<Envelope, 'seal'>;
  audit: Pick<Audit, 'record'>;
  resolve?: Resolve;
}) {
  const { db, clock } = deps;
  const resolve = deps.resolve ?? systemResolve;

  async function row(workspaceId: string, id: string): Promise<WebhookRow> {
    const r = await db
      .selectFrom('webhooks')
      .select(VIEW_COLUMNS)
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!r) throw notFound(`Webhook ${id}`);
    return r;
  }

  async function deliveryViews(
    rows: Array<{
      id: string;
      event_id: string;
      event_type: string;
      status: string;
      attempts: number;
      created_at: string;
      next_attempt_at: string;
      expires_at: string;
      last_status_code: number | null;
      last_error: string | null;
      finished_at: string | null;
    }>,
  ): Promise<DeliveryView[]> {
    const ids = rows.map((r) => r.id);
    const attempts = ids.length
      ? await db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', ids).orderBy('attempt').execute()
      : [];
    return rows.map((r) => ({
      id: r.id,
      eventId: r.event_id,
      type: r.event_type,
      status: r.status as DeliveryView['status'],
      attemptCount: r.attempts,
      createdAt: r.created_at,
      nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
      expiresAt: r.expires_at,
      lastStatusCode: r.last_status_code,
      lastError: r.last_error,
      finishedAt: r.finished_at,
      attempts: attempts
        .filter((a) => a.delivery_id === r.id)
        .map((a) => ({
          attempt: a.attempt,
          at: a.at,
          durationMs: a.duration_ms,
          statusCode: a.status_code,
          error: a.error,
          responseExcerpt: a.response_excerpt,
        })),
    }));
  }

  async function deliveries(
    workspaceId: string,
    webhookId: string,
    q: { limit?: number; cursor?: string; status?: DeliveryView['status'] } = {},
  ): Promise<{ data: DeliveryView[]; nextCursor: string | null }> {
    await row(workspaceId, webhookId);
    const limit = Math.min(Math.max(q.limit ?? 20, 1), 100);
    let query = db
      .selectFrom('webhook_deliveries')
      .select([
        'id',
        'event_id',
        'event_type',
        'status',
        'attempts',
        'created_at',
        'next_attempt_at',
        'expires_at',
        'last_status_code',
        'last_error',
        'finished_at',
      ])
      .where('workspace_id', '=', workspaceId)
      .where('webhook_id', '=', webhookId);
    if (q.status) query = query.where('status', '=', q.status);
    if (q.cursor) query = query.where('id', '<', q.cursor);
    const rows = await query
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    return {
      data: await deliveryViews(page),
      nextCursor: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null,
    };
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
      const id = newId('wh', clock.now().getTime());
      const secret = newWebhookSecret();
      const now = clock.now().toISOString();
      const r: WebhookRow = {
        id,
        url: url.toString(),
        description: input.description ?? null,
        event_types: JSON.stringify(eventTypes),
        allow_private: allowPrivate ? 1 : 0,
        created_at: now,
        updated_at: now,
      };
      await db
        .insertInto('webhooks')
        .values({ ...r, workspace_id: workspaceId, secret_ciphertext: deps.envelope.seal(secret, secretContext(id)) })
        .execute();
      await deps.audit.record({
        workspaceId,
        actor,
        action: 'webhook.created',
        details: { webhookId: id, url: displayUrl(url), eventTypes, allowPrivate },
      });
      return { webhook: view(r), secret };
    },

    async list(workspaceId: string): Promise<WebhookView[]> {
      const rows = await db
        .selectFrom('webhooks')
        .select(VIEW_COLUMNS)
        .where('workspace_id', '=', workspaceId)
        .orderBy('id')
        .execute();
      return rows.map(view);
    },

    /** One webhook with its most recent deliveries and their attempts. */
    async get(workspaceId: string, id: string): Promise<WebhookView & { deliveries: DeliveryView[] }> {
      const r = await row(workspaceId, id);
      return { ...view(r), deliveries: (await deliveries(workspaceId, id, { limit: 10 })).data };
    },

    deliveries,

    /** Pending deliveries go with it: nobody is left to receive them. */
    async remove(workspaceId: string, id: string, actor: string): Promise<void> {
      const r = await row(workspaceId, id);
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('webhook_attempts').where('webhook_id', '=', id).execute();
        await trx.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
        await trx.deleteFrom('webhooks').where('id', '=', id).where('workspace_id', '=', workspaceId).execute();
      });
      await deps.audit.record({
        workspaceId,
        actor,
        action: 'webhook.deleted',
        details: { webhookId: id, url: displayUrl(new URL(r.url)) },
      });
    },

    /** In the event's own transaction: one delivery per matching webhook, due at once. */
    async enqueue(trx: Executor, e: RecordedEvent): Promise<number> {
      const hooks = await trx
        .selectFrom('webhooks')
        .select(['id', 'event_types'])
        .where('workspace_id', '=', e.workspaceId)
        .execute();
      const matching = hooks.filter((h) => {
        const types = JSON.parse(h.event_types) as string[];
        return types.includes('*') || types.includes(e.kind);
      });
      if (matching.length === 0) return 0;
      const payload = JSON.stringify({
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
      });
      const created = Date.parse(e.createdAt);
      await trx
        .insertInto('webhook_deliveries')
        .values(
          matching.map((h) => ({
            id: newId('whd', created),
            webhook_id: h.id,
            workspace_id: e.workspaceId,
            event_id: e.id,
            event_type: e.kind,
            payload,
            status: 'pending',
            attempts: 0,
            next_attempt_at: e.createdAt,
            expires_at: new Date(created + DELIVERY_WINDOW_MS).toISOString(),
            last_attempt_at: null,
            last_status_code: null,
            last_error: null,
            finished_at: null,
            created_at: e.createdAt,
          })),
        )
        .onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doNothing())
        .execute();
      return matching.length;
    },
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
