import type { Executor } from './db.js';
import type { EventDetails, EventKind } from './events.js';

/** The event kinds a webhook takes; `*` for all. */
export type WebhookEventType = EventKind | '*';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface Webhook {
  id: string;
  workspaceId: string;
  url: string;
  description: string | null;
  eventTypes: WebhookEventType[];
  allowPrivate: boolean;
  createdAt: string;
  updatedAt: string;
}

/** The body every attempt of a delivery posts (stored once, so each retry signs the same bytes). */
export interface WebhookPayload {
  id: string;
  type: EventKind;
  createdAt: string;
  data: {
    messageId: string | null;
    sesMessageId: string;
    connectionId: string;
    recipients: string[];
    occurredAt: string;
    details: EventDetails;
  };
}

export interface NewDelivery {
  id: string;
  webhookId: string;
  workspaceId: string;
  eventId: string;
  eventType: EventKind;
  payload: WebhookPayload;
  expiresAt: string;
  createdAt: string;
}

export interface Delivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: EventKind;
  status: DeliveryStatus;
  attempts: number;
  /** When a pending delivery is next tried (its job's run time); null once it is finished. */
  nextAttemptAt: string | null;
  expiresAt: string;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  finishedAt: string | null;
  createdAt: string;
}

export interface Attempt {
  deliveryId: string;
  attempt: number;
  at: string;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
}

/** A pending delivery with what an attempt needs of its webhook. */
export interface DueDelivery {
  id: string;
  webhookId: string;
  workspaceId: string;
  payload: WebhookPayload;
  attempts: number;
  expiresAt: string;
  url: string;
  allowPrivate: boolean;
  secretCiphertext: string;
}

/** The outcome of one attempt, recorded on its delivery together with the attempt itself. */
export interface AttemptRecord {
  id: string;
  deliveryId: string;
  webhookId: string;
  workspaceId: string;
  attempt: number;
  at: string;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
  status: DeliveryStatus;
  finishedAt: string | null;
}

type WebhookRow = {
  id: string;
  workspace_id: string;
  url: string;
  description: string | null;
  event_types: string;
  allow_private: number;
  created_at: string;
  updated_at: string;
};

const WEBHOOK_COLUMNS = [
  'id',
  'workspace_id',
  'url',
  'description',
  'event_types',
  'allow_private',
  'created_at',
  'updated_at',
] as const;

const toWebhook = (r: WebhookRow): Webhook => ({
  id: r.id,
  workspaceId: r.workspace_id,
  url: r.url,
  description: r.description,
  eventTypes: JSON.parse(r.event_types) as WebhookEventType[],
  allowPrivate: r.allow_private === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const takes = (types: readonly WebhookEventType[], kind: EventKind): boolean =>
  types.includes('*') || types.includes(kind);

/**
 * Webhook endpoints with their deliveries and every attempt (`webhooks`, `webhook_deliveries`,
 * `webhook_attempts`): the only writer of those tables. A delivery keeps its history and status
 * here; when it is next tried, and whether it is being tried right now, is the job queue's
 * (queue `webhook`, job id = delivery id, group = webhook id).
 */
export function createWebhooksRepo(db: Executor) {
  async function list(workspaceId: string): Promise<Webhook[]> {
    const rows = await db
      .selectFrom('webhooks')
      .select(WEBHOOK_COLUMNS)
      .where('workspace_id', '=', workspaceId)
      .orderBy('id')
      .execute();
    return rows.map(toWebhook);
  }

  return {
    async insert(w: Webhook & { secretCiphertext: string }): Promise<void> {
      await db
        .insertInto('webhooks')
        .values({
          id: w.id,
          workspace_id: w.workspaceId,
          url: w.url,
          description: w.description,
          event_types: JSON.stringify(w.eventTypes),
          allow_private: w.allowPrivate ? 1 : 0,
          secret_ciphertext: w.secretCiphertext,
          created_at: w.createdAt,
          updated_at: w.updatedAt,
        })
        .execute();
    },

    async find(workspaceId: string, id: string): Promise<Webhook | undefined> {
      const r = await db
        .selectFrom('webhooks')
        .select(WEBHOOK_COLUMNS)
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .executeTakeFirst();
      return r && toWebhook(r);
    },

    list,

    /** The webhooks of a workspace that take events of this kind. */
    async subscribed(workspaceId: string, kind: EventKind): Promise<Webhook[]> {
      return (await list(workspaceId)).filter((w) => takes(w.eventTypes, kind));
    },

    /** Deliveries not finished yet, whose jobs go with the webhook. */
    async pendingDeliveryIds(webhookId: string): Promise<string[]> {
      const rows = await db
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('webhook_id', '=', webhookId)
        .where('status', '=', 'pending')
        .execute();
      return rows.map((r) => r.id);
    },

    /** The webhook with its deliveries and attempts; false when the workspace has no such webhook. */
    async remove(workspaceId: string, id: string): Promise<boolean> {
      const res = await db
        .deleteFrom('webhooks')
        .where('id', '=', id)
        .where('workspace_id', '=', workspaceId)
        .executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) return false;
      await db.deleteFrom('webhook_attempts').where('webhook_id', '=', id).execute();
      await db.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      return true;
    },

    /** Add deliveries, pending; one per (webhook, event) at most. Returns the ids actually added. */
    async addDeliveries(rows: readonly NewDelivery[]): Promise<string[]> {
      if (rows.length === 0) return [];
      const added = await db
        .insertInto('webhook_deliveries')
        .values(
          rows.map((d) => ({
            id: d.id,
            webhook_id: d.webhookId,
            workspace_id: d.workspaceId,
            event_id: d.eventId,
            event_type: d.eventType,
            payload: JSON.stringify(d.payload),
            status: 'pending',
            attempts: 0,
            expires_at: d.expiresAt,
            last_attempt_at: null,
            last_status_code: null,
            last_error: null,
            finished_at: null,
            created_at: d.createdAt,
          })),
        )
        .onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doNothing())
        .returning('id')
        .execute();
      return added.map((r) => r.id);
    },

    /**
     * A page of a webhook's deliveries, newest first, optionally of one status. `cursor` is the
     * last id of the previous page; `nextCursor` is null on the last page.
     */
    async deliveries(
      workspaceId: string,
      webhookId: string,
      q: { status?: DeliveryStatus; cursor?: string; limit: number },
    ): Promise<{ data: Delivery[]; nextCursor: string | null }> {
      let query = db
        .selectFrom('webhook_deliveries as d')
        .leftJoin('jobs', (j) => j.onRef('jobs.id', '=', 'd.id').on('jobs.queue', '=', 'webhook'))
        .select([
          'd.id',
          'd.webhook_id',
          'd.event_id',
          'd.event_type',
          'd.status',
          'd.attempts',
          'jobs.run_at',
          'd.expires_at',
          'd.last_attempt_at',
          'd.last_status_code',
          'd.last_error',
          'd.finished_at',
          'd.created_at',
        ])
        .where('d.workspace_id', '=', workspaceId)
        .where('d.webhook_id', '=', webhookId);
      if (q.status) query = query.where('d.status', '=', q.status);
      if (q.cursor) query = query.where('d.id', '<', q.cursor);
      const rows = await query
        .orderBy('d.id', 'desc')
        .limit(q.limit + 1)
        .execute();
      const page = rows.slice(0, q.limit).map((r): Delivery => ({
        id: r.id,
        webhookId: r.webhook_id,
        eventId: r.event_id,
        eventType: r.event_type as EventKind,
        status: r.status as DeliveryStatus,
        attempts: r.attempts,
        nextAttemptAt: r.status === 'pending' ? (r.run_at ?? null) : null,
        expiresAt: r.expires_at,
        lastAttemptAt: r.last_attempt_at,
        lastStatusCode: r.last_status_code,
        lastError: r.last_error,
        finishedAt: r.finished_at,
        createdAt: r.created_at,
      }));
      return { data: page, nextCursor: rows.length > q.limit ? (page[page.length - 1]?.id ?? null) : null };
    },

    /** Every attempt of these deliveries, in order. */
    async attempts(deliveryIds: readonly string[]): Promise<Attempt[]> {
      if (deliveryIds.length === 0) return [];
      const rows = await db
        .selectFrom('webhook_attempts')
        .select(['delivery_id', 'attempt', 'at', 'duration_ms', 'status_code', 'error', 'response_excerpt'])
        .where('delivery_id', 'in', [...deliveryIds])
        .orderBy('delivery_id')
        .orderBy('attempt')
        .execute();
      return rows.map((a) => ({
        deliveryId: a.delivery_id,
        attempt: a.attempt,
        at: a.at,
        durationMs: a.duration_ms,
        statusCode: a.status_code,
        error: a.error,
        responseExcerpt: a.response_excerpt,
      }));
    },

    /** Those of these deliveries still pending, with their webhook's address and secret. */
    async due(ids: readonly string[]): Promise<DueDelivery[]> {
      if (ids.length === 0) return [];
      const rows = await db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
        .select([
          'd.id',
          'd.webhook_id',
          'd.workspace_id',
          'd.payload',
          'd.attempts',
          'd.expires_at',
          'w.url',
          'w.allow_private',
          'w.secret_ciphertext',
        ])
        .where('d.id', 'in', [...ids])
        .where('d.status', '=', 'pending')
        .execute();
      return rows.map((r) => ({
        id: r.id,
        webhookId: r.webhook_id,
        workspaceId: r.workspace_id,
        payload: JSON.parse(r.payload) as WebhookPayload,
        attempts: r.attempts,
        expiresAt: r.expires_at,
        url: r.url,
        allowPrivate: r.allow_private === 1,
        secretCiphertext: r.secret_ciphertext,
      }));
    },

    /** A pending delivery whose window closed before it could be tried (again) fails. */
    async expire(id: string, at: string, neverAttempted: boolean): Promise<void> {
      await db
        .updateTable('webhook_deliveries')
        .set({
          status: 'failed',
          finished_at: at,
          ...(neverAttempted ? { last_error: 'expired before it could be attempted' } : {}),
        })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .execute();
    },

    /** Record an attempt and where it leaves its delivery; false when the delivery is gone (its webhook deleted). */
    async recordAttempt(a: AttemptRecord): Promise<boolean> {
      const updated = await db
        .updateTable('webhook_deliveries')
        .set({
          status: a.status,
          attempts: a.attempt,
          last_attempt_at: a.at,
          last_status_code: a.statusCode,
          last_error: a.error,
          finished_at: a.finishedAt,
        })
        .where('id', '=', a.deliveryId)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      await db
        .insertInto('webhook_attempts')
        .values({
          id: a.id,
          delivery_id: a.deliveryId,
          webhook_id: a.webhookId,
          workspace_id: a.workspaceId,
          attempt: a.attempt,
          at: a.at,
          duration_ms: a.durationMs,
          status_code: a.statusCode,
          error: a.error,
          response_excerpt: a.responseExcerpt,
        })
        .execute();
      return true;
    },
  };
}

export type WebhooksRepo = ReturnType<typeof createWebhooksRepo>;
