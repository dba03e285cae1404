import { sql } from 'kysely';
import type { SnsMessage } from '../aws/sns-verify.js';
import type { Executor } from './db.js';

/** What SES reports about a message (event publishing and notification formats alike). */
export type EventKind =
  | 'send'
  | 'delivery'
  | 'bounce'
  | 'complaint'
  | 'reject'
  | 'delivery_delay'
  | 'rendering_failure'
  | 'open'
  | 'click'
  | 'subscription';

/** The facts of one event kept on the timeline; which are present depends on the kind. */
export type EventDetails = {
  /** Bounce type (Permanent, Transient, Undetermined) or delay type. */
  type?: string;
  subType?: string | null;
  recipients?: Array<{ email: string; status: string | null; diagnostic: string | null }>;
  feedbackType?: string | null;
  reason?: string;
  link?: string;
  errorMessage?: string;
};

/** An event as it joined the timeline (one message_events row). */
export interface MessageEvent {
  id: string;
  workspaceId: string;
  connectionId: string;
  /** Null for a message Sesame does not know: kept, not dropped. */
  messageId: string | null;
  sesMessageId: string;
  kind: EventKind;
  occurredAt: string;
  recipients: string[];
  details: EventDetails;
  createdAt: string;
}

/** What became of a stored notification. */
export type NotificationOutcome = 'applied' | 'not_ses' | 'unknown_type' | 'invalid' | `failed: ${string}`;

/** A verified SNS notification as stored, its body decoded. */
export interface StoredNotification {
  id: string;
  connectionId: string;
  workspaceId: string;
  topicArn: string;
  type: SnsMessage['Type'];
  body: SnsMessage;
  receivedAt: string;
  attempts: number;
}

/**
 * SNS notifications as received (`sns_messages`), applied off the request path: the only writer of
 * that table. A notification is due from the moment it is stored until it is processed; a failed
 * application moves it to a later time.
 */
export function createSnsMessagesRepo(db: Executor) {
  return {
    /** Store a verified message, due at once; false when its MessageId was stored before (a replay). */
    async insert(n: {
      connectionId: string;
      workspaceId: string;
      body: SnsMessage;
      receivedAt: string;
    }): Promise<boolean> {
      const res = await db
        .insertInto('sns_messages')
        .values({
          id: n.body.MessageId,
          connection_id: n.connectionId,
          workspace_id: n.workspaceId,
          topic_arn: n.body.TopicArn,
          type: n.body.Type,
          body: JSON.stringify(n.body),
          received_at: n.receivedAt,
          processed_at: null,
          outcome: null,
          attempts: 0,
          next_attempt_at: n.receivedAt,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    /** Notifications not processed yet whose time has come, in the order they arrived. */
    async due(now: Date, limit: number): Promise<StoredNotification[]> {
      const rows = await db
        .selectFrom('sns_messages')
        .select(['id', 'connection_id', 'workspace_id', 'topic_arn', 'type', 'body', 'received_at', 'attempts'])
        .where('processed_at', 'is', null)
        .where('next_attempt_at', '<=', now.toISOString())
        .orderBy('received_at')
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        id: r.id,
        connectionId: r.connection_id,
        workspaceId: r.workspace_id,
        topicArn: r.topic_arn,
        type: r.type as SnsMessage['Type'],
        body: JSON.parse(r.body) as SnsMessage,
        receivedAt: r.received_at,
        attempts: r.attempts,
      }));
    },

    async markProcessed(id: string, outcome: NotificationOutcome, attempts: number, at: string): Promise<void> {
      await db
        .updateTable('sns_messages')
        .set({ processed_at: at, outcome: outcome.slice(0, 300), attempts })
        .where('id', '=', id)
        .execute();
    },

    /** An application failed: try again at `nextAttemptAt`. */
    async retryAt(id: string, attempts: number, nextAttemptAt: string): Promise<void> {
      await db
        .updateTable('sns_messages')
        .set({ attempts, next_attempt_at: nextAttemptAt })
        .where('id', '=', id)
        .where('processed_at', 'is', null)
        .execute();
    },
  };
}

type EventRow = {
  kind: string;
  occurred_at: string;
  recipients: string;
  details: string;
};

/** The timeline of every message (`message_events`): the only writer of that table. */
export function createMessageEventsRepo(db: Executor) {
  return {
    /**
     * Add an event to the timeline; false when this notification's event of this kind is there
     * already (SNS and Sesame's own retries may deliver one event twice).
     */
    async insert(e: MessageEvent, snsMessageId: string): Promise<boolean> {
      const res = await db
        .insertInto('message_events')
        .values({
          id: e.id,
          workspace_id: e.workspaceId,
          connection_id: e.connectionId,
          message_id: e.messageId,
          ses_message_id: e.sesMessageId,
          sns_message_id: snsMessageId,
          kind: e.kind,
          occurred_at: e.occurredAt,
          recipients: JSON.stringify(e.recipients),
          details: JSON.stringify(e.details),
          created_at: e.createdAt,
        })
        .onConflict((oc) => oc.columns(['sns_message_id', 'kind']).doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    /** The events of one message in the order they happened. */
    async timeline(
      messageId: string,
    ): Promise<Array<Pick<MessageEvent, 'kind' | 'occurredAt' | 'recipients' | 'details'>>> {
      const rows: EventRow[] = await db
        .selectFrom('message_events')
        .select(['kind', 'occurred_at', 'recipients', 'details'])
        .where('message_id', '=', messageId)
        .orderBy('occurred_at')
        .orderBy('id')
        .execute();
      return rows.map((r) => ({
        kind: r.kind as EventKind,
        occurredAt: r.occurred_at,
        recipients: JSON.parse(r.recipients) as string[],
        details: JSON.parse(r.details) as EventDetails,
      }));
    },

    /** Transient bounces of one address in a workspace that happened at `since` or later. */
    async transientBounces(workspaceId: string, email: string, since: string): Promise<number> {
      const r = await db
        .selectFrom('message_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('workspace_id', '=', workspaceId)
        .where('kind', '=', 'bounce')
        .where('occurred_at', '>=', since)
        // `_` and `%` are common in addresses; escaped, they match only themselves.
        .where(
          sql<boolean>`recipients like ${`%${JSON.stringify(email).replace(/[\\%_]/g, (c) => `\\${c}`)}%`} escape '\\'`,
        )
        .where('details', 'like', '%"type":"Transient"%')
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}

/** Refusals of one error code within the window. */
export interface RefusalCount {
  code: string;
  count: number;
  /** The latest refusal of this code, and the TopicArn it named. */
  lastAt: string;
  topicArn: string | null;
}

const HOUR_MS = 3_600_000;
/** Refusals are kept and shown for the last 24 hours, counted to the hour. */
const WINDOW_HOURS = 24;
const MAX_TOPIC_CHARS = 256;
/** An hour bucket as it sorts: YYYY-MM-DDTHH. */
const hourOf = (t: number): string => new Date(t).toISOString().slice(0, 13);
const oldestHour = (now: Date): string => hourOf(now.getTime() - (WINDOW_HOURS - 1) * HOUR_MS);

/**
 * SNS deliveries refused per connection (`sns_refusals`), counted per hour and error code, never
 * the body: the table stays small however many forged posts arrive. The only writer of that table.
 */
export function createSnsRefusalsRepo(db: Executor) {
  return {
    /** Count one refusal in the hour of `at`; concurrent counts all land. */
    async count(connectionId: string, code: string, topicArn: string | null, at: Date): Promise<void> {
      const iso = at.toISOString();
      const topic = topicArn === null ? null : topicArn.slice(0, MAX_TOPIC_CHARS);
      await db
        .insertInto('sns_refusals')
        .values({
          connection_id: connectionId,
          hour: hourOf(at.getTime()),
          code,
          refused: 1,
          last_at: iso,
          last_topic: topic,
        })
        .onConflict((oc) =>
          oc.columns(['connection_id', 'hour', 'code']).doUpdateSet((eb) => ({
            refused: eb('sns_refusals.refused', '+', 1),
            last_at: iso,
            last_topic: topic,
          })),
        )
        .execute();
    },

    /** Forget the hours that fell out of the window. */
    async prune(now: Date): Promise<void> {
      await db.deleteFrom('sns_refusals').where('hour', '<', oldestHour(now)).execute();
    },

    /** Refusals of a connection in the last 24 hours (to the hour), per code, most frequent first. */
    async recent(connectionId: string, now: Date): Promise<RefusalCount[]> {
      const rows = await db
        .selectFrom('sns_refusals')
        .select(['code', 'refused', 'last_at', 'last_topic'])
        .where('connection_id', '=', connectionId)
        .where('hour', '>=', oldestHour(now))
        .execute();
      const byCode = new Map<string, RefusalCount>();
      for (const r of rows) {
        const c = byCode.get(r.code);
        if (!c)
          byCode.set(r.code, { code: r.code, count: Number(r.refused), lastAt: r.last_at, topicArn: r.last_topic });
        else {
          c.count += Number(r.refused);
          if (r.last_at > c.lastAt) Object.assign(c, { lastAt: r.last_at, topicArn: r.last_topic });
        }
      }
      return [...byCode.values()].sort(
        (a, b) => b.count - a.count || b.lastAt.localeCompare(a.lastAt) || a.code.localeCompare(b.code),
      );
    },
  };
}

export type SnsMessagesRepo = ReturnType<typeof createSnsMessagesRepo>;
export type MessageEventsRepo = ReturnType<typeof createMessageEventsRepo>;
export type SnsRefusalsRepo = ReturnType<typeof createSnsRefusalsRepo>;
