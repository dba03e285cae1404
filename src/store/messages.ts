import { sql } from 'kysely';
import type { Draft } from '../modules/messages/input.js';
import type { Executor } from './db.js';
import type { MessageTable } from './schema.js';

export const MESSAGE_STATUSES = [
  'queued',
  'sending',
  'sent',
  'failed',
  'suppressed',
  'cancelled',
  'delayed',
  'delivered',
  'bounced',
  'complained',
  'rejected',
] as const;
/** Where a message is: from the API to SES (the sending part), then what SES reported (events). */
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Who handed the message over. */
export type MessageSource = 'api' | 'batch' | 'smtp' | 'cli';

/** Why a message waits or failed, as the sending part recorded it. */
export interface LastError {
  code: string;
  message: string | null;
  hint: string | null;
}

export interface Mailboxes {
  to: string[];
  cc: string[];
  bcc: string[];
}

export interface Message {
  id: string;
  workspaceId: string;
  connectionId: string;
  apiKeyId: string | null;
  source: MessageSource;
  status: MessageStatus;
  from: string;
  subject: string;
  /** As the sender wrote them (display names included). */
  recipients: Mailboxes;
  /** Recipients SES is asked to deliver to (suppressed ones left out). */
  recipientCount: number;
  tags: Record<string, string>;
  sizeBytes: number;
  scheduledAt: string | null;
  sesMessageId: string | null;
  attempts: number;
  lastError: LastError | null;
  suppressed: Array<{ email: string; reason: string }>;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
}

/** A message to store: its row, the draft SES gets, and the addresses it is indexed by. */
export interface NewMessage extends Omit<Message, 'sesMessageId' | 'attempts' | 'updatedAt' | 'sentAt'> {
  draft: Draft;
  /** Every recipient address, lowercased (searchable with `recipient=`). */
  recipientEmails: string[];
}

/** What one send needs of its message. `draft` is null when the stored draft cannot be read. */
export interface SendableMessage {
  id: string;
  status: MessageStatus;
  workspaceId: string;
  from: string;
  recipientCount: number;
  draft: Draft | null;
}

export interface MessageFilter {
  status?: MessageStatus;
  /** A lowercased address. */
  recipient?: string;
  /** `name=value`. */
  tag?: string;
  /** ISO instants: created at or after `since`, before `until`. */
  since?: string;
  until?: string;
  /** The id of the last message of the previous page. */
  cursor?: string;
  limit: number;
}

const STILL_TO_SEND = ['queued', 'sending'] as const;

function toMessage(r: MessageTable): Message {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    connectionId: r.connection_id,
    apiKeyId: r.api_key_id,
    source: r.source as MessageSource,
    status: r.status as MessageStatus,
    from: r.from_address,
    subject: r.subject,
    recipients: JSON.parse(r.recipients) as Mailboxes,
    recipientCount: r.recipient_count,
    tags: JSON.parse(r.tags) as Record<string, string>,
    sizeBytes: r.size_bytes,
    scheduledAt: r.scheduled_at,
    sesMessageId: r.ses_message_id,
    attempts: r.attempts,
    lastError: r.last_error_code
      ? { code: r.last_error_code, message: r.last_error_message, hint: r.last_error_hint }
      : null,
    suppressed: r.suppressed ? (JSON.parse(r.suppressed) as Array<{ email: string; reason: string }>) : [],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    sentAt: r.sent_at,
  };
}

function readDraft(payload: string): Draft | null {
  try {
    const d = JSON.parse(payload) as Draft | null;
    return d && typeof d === 'object' && d.from && Array.isArray(d.to) ? d : null;
  } catch {
    return null;
  }
}

const errorColumns = (e: LastError | null) => ({
  last_error_code: e?.code ?? null,
  last_error_message: e?.message ?? null,
  last_error_hint: e?.hint ?? null,
});

/**
 * The messages of every workspace, with their recipients and tags: the only writer of `messages`,
 * `message_recipients` and `message_tags`. The messages service, the sending part and the events
 * all go through here. Status changes are conditional: a message a person cancelled, or one an SES
 * event already moved on, is never pulled back by a late writer.
 */
export function createMessagesRepo(db: Executor) {
  return {
    /** Store a message with its recipient and tag index rows (run it in the transaction that queues it). */
    async insert(m: NewMessage): Promise<void> {
      await db
        .insertInto('messages')
        .values({
          id: m.id,
          workspace_id: m.workspaceId,
          connection_id: m.connectionId,
          api_key_id: m.apiKeyId,
          source: m.source,
          status: m.status,
          from_address: m.from,
          subject: m.subject,
          recipients: JSON.stringify(m.recipients),
          recipient_count: m.recipientCount,
          tags: JSON.stringify(m.tags),
          payload: JSON.stringify(m.draft),
          size_bytes: m.sizeBytes,
          scheduled_at: m.scheduledAt,
          ses_message_id: null,
          attempts: 0,
          ...errorColumns(m.lastError),
          suppressed: m.suppressed.length ? JSON.stringify(m.suppressed) : null,
          created_at: m.createdAt,
          updated_at: m.createdAt,
          sent_at: null,
        })
        .execute();
      const emails = [...new Set(m.recipientEmails)];
      if (emails.length)
        await db
          .insertInto('message_recipients')
          .values(emails.map((email) => ({ message_id: m.id, workspace_id: m.workspaceId, email })))
          .execute();
      const tags = Object.entries(m.tags).map(([k, v]) => ({
        message_id: m.id,
        workspace_id: m.workspaceId,
        tag: `${k}=${v}`,
      }));
      if (tags.length) await db.insertInto('message_tags').values(tags).execute();
    },

    async get(workspaceId: string, id: string): Promise<Message | undefined> {
      const r = await db
        .selectFrom('messages')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .executeTakeFirst();
      return r && toMessage(r);
    },

    /** A page, newest first (ids are time-ordered), with the cursor of the next page when there is one. */
    async list(workspaceId: string, f: MessageFilter): Promise<{ data: Message[]; nextCursor: string | null }> {
      let query = db.selectFrom('messages').selectAll().where('workspace_id', '=', workspaceId);
      if (f.status) query = query.where('status', '=', f.status);
      if (f.since) query = query.where('created_at', '>=', f.since);
      if (f.until) query = query.where('created_at', '<', f.until);
      if (f.cursor) query = query.where('id', '<', f.cursor);
      if (f.recipient)
        query = query.where(
          'id',
          'in',
          db
            .selectFrom('message_recipients')
            .select('message_id')
            .where('workspace_id', '=', workspaceId)
            .where('email', '=', f.recipient),
        );
      if (f.tag)
        query = query.where(
          'id',
          'in',
          db
            .selectFrom('message_tags')
            .select('message_id')
            .where('workspace_id', '=', workspaceId)
            .where('tag', '=', f.tag),
        );
      const rows = await query
        .orderBy('id', 'desc')
        .limit(f.limit + 1)
        .execute();
      const page = rows.slice(0, f.limit).map(toMessage);
      return { data: page, nextCursor: rows.length > f.limit ? page[page.length - 1]!.id : null };
    },

    /** The messages of leased send jobs, by id (one query for the whole lease). */
    async forSending(ids: readonly string[]): Promise<Map<string, SendableMessage>> {
      if (ids.length === 0) return new Map();
      const rows = await db
        .selectFrom('messages')
        .select(['id', 'status', 'payload', 'recipient_count', 'workspace_id', 'from_address'])
        .where('id', 'in', [...ids])
        .execute();
      return new Map(
        rows.map((r) => [
          r.id,
          {
            id: r.id,
            status: r.status as MessageStatus,
            workspaceId: r.workspace_id,
            from: r.from_address,
            recipientCount: r.recipient_count,
            draft: readDraft(r.payload),
          },
        ]),
      );
    },

    /** The message is handed to SES (in the transaction that marks its job in flight). */
    async markSending(id: string, attempts: number, at: string): Promise<void> {
      await db
        .updateTable('messages')
        .set({ status: 'sending', attempts, updated_at: at })
        .where('id', '=', id)
        .execute();
    },

    /**
     * SES accepted these messages. An SES event may already have moved one on (delivered,
     * bounced…): its status is kept, the SES id and send time are recorded all the same.
     */
    async markSent(sent: ReadonlyArray<{ id: string; sesMessageId: string; at: string }>): Promise<void> {
      for (const s of sent)
        await db
          .updateTable('messages')
          .set({
            status: sql<string>`case when status in ('queued', 'sending') then 'sent' else status end`,
            ses_message_id: s.sesMessageId,
            sent_at: s.at,
            updated_at: s.at,
            ...errorColumns(null),
          })
          .where('id', '=', s.id)
          .execute();
    },

    /** Back to `queued`, saying why it waits; only a message still on its way. True when it moved. */
    async requeue(id: string, why: LastError, at: string): Promise<boolean> {
      const res = await db
        .updateTable('messages')
        .set({ status: 'queued', ...errorColumns(why), updated_at: at })
        .where('id', '=', id)
        .where('status', 'in', STILL_TO_SEND)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    /** `failed` with the reason; only a message still on its way. True when it moved. */
    async fail(id: string, why: LastError, at: string): Promise<boolean> {
      const res = await db
        .updateTable('messages')
        .set({ status: 'failed', ...errorColumns(why), updated_at: at })
        .where('id', '=', id)
        .where('status', 'in', STILL_TO_SEND)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    /** A person sends a failed message again: `queued`, its last error cleared. False when it is no longer failed. */
    async requeueFailed(id: string, at: string): Promise<boolean> {
      const res = await db
        .updateTable('messages')
        .set({ status: 'queued', ...errorColumns(null), updated_at: at })
        .where('id', '=', id)
        .where('status', '=', 'failed')
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },

    /** The message an SES event is about: by SES message id, else by Sesame's own header id. */
    async findForEvent(
      workspaceId: string,
      sesMessageId: string,
      sesameMessageId?: string,
    ): Promise<{ id: string; status: MessageStatus } | undefined> {
      const bySes = await db
        .selectFrom('messages')
        .select(['id', 'status'])
        .where('workspace_id', '=', workspaceId)
        .where('ses_message_id', '=', sesMessageId)
        .executeTakeFirst();
      if (bySes) return { id: bySes.id, status: bySes.status as MessageStatus };
      if (!sesameMessageId) return undefined;
      const byId = await db
        .selectFrom('messages')
        .select(['id', 'status'])
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', sesameMessageId)
        .executeTakeFirst();
      return byId ? { id: byId.id, status: byId.status as MessageStatus } : undefined;
    },

    /** Move a message from one status to another, only if it is still in the first; true when it moved. */
    async moveStatus(id: string, from: MessageStatus, to: MessageStatus, at: string): Promise<boolean> {
      const res = await db
        .updateTable('messages')
        .set({ status: to, updated_at: at })
        .where('id', '=', id)
        .where('status', '=', from)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    /** Outcomes of a connection's last `window` sends (newest first by send time). */
    async recentOutcomes(
      connectionId: string,
      window: number,
    ): Promise<{ sample: number; bounced: number; complained: number }> {
      const recent = db
        .selectFrom('messages')
        .select('status')
        .where('connection_id', '=', connectionId)
        .where('sent_at', 'is not', null)
        .orderBy('sent_at', 'desc')
        .limit(window);
      const r = await db
        .selectFrom(recent.as('recent'))
        .select((eb) => [
          eb.fn.countAll<number>().as('sample'),
          eb.fn.sum<number>(eb.case().when('status', '=', 'bounced').then(1).else(0).end()).as('bounced'),
          eb.fn.sum<number>(eb.case().when('status', '=', 'complained').then(1).else(0).end()).as('complained'),
        ])
        .executeTakeFirstOrThrow();
      return { sample: Number(r.sample), bounced: Number(r.bounced ?? 0), complained: Number(r.complained ?? 0) };
    },
  };
}

export type MessagesRepo = ReturnType<typeof createMessagesRepo>;
