import type { Executor } from './db.js';

/** Where a message is: from the API to SES (the worker), then what SES reported (events). */
export type MessageStatus =
  | 'queued'
  | 'sending'
  | 'sent'
  | 'failed'
  | 'suppressed'
  | 'cancelled'
  | 'delayed'
  | 'delivered'
  | 'bounced'
  | 'complained'
  | 'rejected';

/**
 * The messages of every workspace, with their recipients and tags: the only writer of `messages`,
 * `message_recipients` and `message_tags`. The sending path and the events both go through here.
 */
export function createMessagesRepo(db: Executor) {
  return {
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
