import { sql } from 'kysely';
import type { SnsMessage } from '../../aws/sns-verify.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { newId } from '../../ids.js';
import type { Logger } from '../../logger.js';
import type { Executor } from '../../store/db.js';
import type { Db } from '../../store/db.js';
import { type EventKind, parseSesEvent, type SesEvent } from './parse.js';

/**
 * Applies stored SNS notifications: the event joins its message's timeline, the message status
 * moves forward, and bounces and complaints feed the suppression list. Idempotent (SNS and our
 * own retries may deliver one event twice) and order-independent (events arrive in any order).
 */

/** Where an event takes a message; a status only ever moves to a higher rank. */
const STATUS_OF: Partial<Record<EventKind, { status: string; rank: number }>> = {
  delivery_delay: { status: 'delayed', rank: 1 },
  delivery: { status: 'delivered', rank: 2 },
  bounce: { status: 'bounced', rank: 3 },
  complaint: { status: 'complained', rank: 4 },
  reject: { status: 'rejected', rank: 5 },
  rendering_failure: { status: 'rejected', rank: 5 },
};
const RANK: Record<string, number> = {
  sending: 0,
  sent: 0,
  delayed: 1,
  delivered: 2,
  bounced: 3,
  complained: 4,
  rejected: 5,
};

const RETRY_MS = [1_000, 5_000, 30_000, 120_000, 600_000];
const KICK_DELAY_MS = 5;
const MAX_ATTEMPTS = 10;

/** An event as it joined the timeline (the message_events row), for whoever listens to events. */
export interface RecordedEvent {
  id: string;
  workspaceId: string;
  connectionId: string;
  messageId: string | null;
  sesMessageId: string;
  kind: EventKind;
  occurredAt: string;
  recipients: string[];
  details: Record<string, unknown>;
  createdAt: string;
}

export function createEventProcessor(deps: {
  db: Db;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, 'transientBounceLimit' | 'transientBounceWindowDays'>;
  /** Bounces and complaints are weighed against the connection's recent sends. */
  onReputationEvent?: (connectionId: string) => Promise<unknown>;
  /** Runs in the transaction that records a new event, so work it enqueues (webhooks) is as durable as the event. */
  onEvent?: (trx: Executor, event: RecordedEvent) => Promise<void>;
  /** After each committed batch (work the events enqueued, such as webhook deliveries, can start). */
  onApplied?: () => Promise<void> | void;
}) {
  const { db, clock } = deps;
  let running: Promise<number> | undefined;

  /** Apply one stored notification inside `trx`; bounces and complaints name their connection in `touched`. */
  async function apply(
    trx: Executor,
    row: { id: string; workspace_id: string; connection_id: string; body: string },
    touched: Set<string>,
  ): Promise<string> {
    const sns = JSON.parse(row.body) as SnsMessage;
    const parsed = parseSesEvent(sns.Message);
    if (!parsed.ok) return parsed.reason;
    const e = parsed.event;
    const now = clock.now().toISOString();
    {
      // By SES message id; else by our own header (the send may not be recorded yet).
      let msg = await trx
        .selectFrom('messages')
        .select(['id', 'status'])
        .where('workspace_id', '=', row.workspace_id)
        .where('ses_message_id', '=', e.sesMessageId)
        .executeTakeFirst();
      if (!msg && e.sesameMessageId)
        msg = await trx
          .selectFrom('messages')
          .select(['id', 'status'])
          .where('workspace_id', '=', row.workspace_id)
          .where('id', '=', e.sesameMessageId)
          .executeTakeFirst();
      const recorded: RecordedEvent = {
        id: newId('evt'),
        workspaceId: row.workspace_id,
        connectionId: row.connection_id,
        messageId: msg?.id ?? null,
        sesMessageId: e.sesMessageId,
        kind: e.kind,
        occurredAt: new Date(Date.parse(e.occurredAt) || clock.now().getTime()).toISOString(),
        recipients: e.recipients,
        details: details(e),
        createdAt: now,
      };
      const inserted = await trx
        .insertInto('message_events')
        .values({
          id: recorded.id,
          workspace_id: recorded.workspaceId,
          connection_id: recorded.connectionId,
          message_id: recorded.messageId,
          ses_message_id: recorded.sesMessageId,
          sns_message_id: row.id,
          kind: recorded.kind,
          occurred_at: recorded.occurredAt,
          recipients: JSON.stringify(recorded.recipients),
          details: JSON.stringify(recorded.details),
          created_at: now,
        })
        .onConflict((oc) => oc.columns(['sns_message_id', 'kind']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return 'applied'; // applied before
      const next = STATUS_OF[e.kind];
      if (msg && next && (RANK[msg.status] ?? 99) < next.rank) {
        await trx
          .updateTable('messages')
          .set({ status: next.status, updated_at: now })
          .where('id', '=', msg.id)
          .where('status', '=', msg.status)
          .execute();
      }
      await suppress(trx, row.workspace_id, e, now);
      await deps.onEvent?.(trx, recorded);
    }
    if (e.kind === 'bounce' || e.kind === 'complaint') touched.add(row.connection_id);
    return 'applied';
  }

  async function suppress(trx: Executor, workspaceId: string, e: SesEvent, now: string): Promise<void> {
    const add = async (emails: string[], reason: string) => {
      if (!emails.length) return;
      await trx
        .insertInto('suppressions')
        .values(
          emails.map((email) => ({
            workspace_id: workspaceId,
            email,
            reason,
            source: `ses:${e.sesMessageId}`.slice(0, 200),
            created_at: now,
          })),
        )
        .onConflict((oc) => oc.columns(['workspace_id', 'email']).doNothing())
        .execute();
    };
    if (e.kind === 'complaint') return add(e.recipients, 'complaint');
    if (e.kind !== 'bounce' || !e.bounce) return;
    if (e.bounce.type === 'Permanent') return add(e.recipients, 'bounce');
    if (e.bounce.type !== 'Transient') return;
    // Transient bounces suppress only when they repeat within the window.
    const since = new Date(clock.now().getTime() - deps.config.transientBounceWindowDays * 86_400_000).toISOString();
    const repeated: string[] = [];
    for (const email of e.recipients) {
      const n = await trx
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
      if (Number(n.n) >= deps.config.transientBounceLimit) repeated.push(email);
    }
    await add(
      repeated,
      `repeated transient bounces (${deps.config.transientBounceLimit} in ${deps.config.transientBounceWindowDays} days)`,
    );
  }

  const markProcessed = (trx: Executor, id: string, outcome: string, attempts: number) =>
    trx
      .updateTable('sns_messages')
      .set({ processed_at: clock.now().toISOString(), outcome, attempts })
      .where('id', '=', id)
      .execute();

  /**
   * One pass over what is due. A batch is applied in one transaction (one commit instead of one
   * per notification); if any notification in it fails, the batch is rolled back and applied
   * one by one, so a bad notification is retried alone and never holds back the others.
   */
  async function drain(limit = 200): Promise<number> {
    const now = clock.now();
    const rows = await db
      .selectFrom('sns_messages')
      .select(['id', 'workspace_id', 'connection_id', 'body', 'attempts'])
      .where('processed_at', 'is', null)
      .where('next_attempt_at', '<=', now.toISOString())
      .orderBy('received_at')
      .limit(limit)
      .execute();
    if (rows.length === 0) return 0;
    const touched = new Set<string>();
    try {
      await db.transaction().execute(async (trx) => {
        for (const row of rows) await markProcessed(trx, row.id, await apply(trx, row, touched), row.attempts + 1);
      });
    } catch {
      touched.clear();
      for (const row of rows) {
        try {
          await db
            .transaction()
            .execute(async (trx) => markProcessed(trx, row.id, await apply(trx, row, touched), row.attempts + 1));
        } catch (err) {
          const attempts = row.attempts + 1;
          deps.logger.warn(
            { snsMessageId: row.id, attempts, err: (err as Error).message },
            'applying an SES event failed',
          );
          await db
            .updateTable('sns_messages')
            .set({
              attempts,
              next_attempt_at: new Date(
                clock.now().getTime() + RETRY_MS[Math.min(attempts - 1, RETRY_MS.length - 1)]!,
              ).toISOString(),
              ...(attempts >= MAX_ATTEMPTS
                ? {
                    processed_at: clock.now().toISOString(),
                    outcome: `failed: ${(err as Error).message}`.slice(0, 300),
                  }
                : {}),
            })
            .where('id', '=', row.id)
            .execute();
        }
      }
    }
    // Rates are measured once per connection per batch, after its events are committed; one
    // failing check must not skip the others, nor the start of webhook deliveries.
    try {
      for (const id of touched)
        await Promise.resolve(deps.onReputationEvent?.(id)).catch((err: unknown) =>
          deps.logger.error({ err, connectionId: id }, 'the reputation check failed'),
        );
    } finally {
      await deps.onApplied?.();
    }
    return rows.length;
  }

  let timer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Timeout | undefined;
  let again = false;
  const passes = async (): Promise<number> => {
    let total = 0;
    try {
      do {
        again = false;
        for (let n = await drain(); n > 0; n = await drain()) total += n;
      } while (again);
    } finally {
      // Cleared in the same turn as the last look, so a kick cannot fall between the two.
      running = undefined;
    }
    return total;
  };
  const run = (): Promise<number> => {
    if (running) {
      // Notifications stored during a pass that already looked: look once more at its end.
      again = true;
      return running;
    }
    running = passes();
    return running;
  };
  const report = (err: unknown) => deps.logger.error({ err }, 'processing SES events failed');

  return {
    /** Retries of failed applications happen on this beat. */
    start(intervalMs = 2000): void {
      timer ??= setInterval(() => void run().catch(report), intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      if (soon) clearTimeout(soon);
      timer = soon = undefined;
      await running;
    },
    /** Apply what is due now; concurrent calls share one pass. */
    drain: run,
    /**
     * A notification was stored: apply it shortly. Waiting a few milliseconds lets notifications
     * that arrive together be applied in one batch.
     */
    kick(): void {
      if (running) {
        again = true;
        return;
      }
      soon ??= setTimeout(() => {
        soon = undefined;
        void run().catch(report);
      }, KICK_DELAY_MS);
    },
    /** The timeline of one message. */
    async timeline(
      messageId: string,
    ): Promise<Array<{ kind: string; occurredAt: string; recipients: string[]; details: Record<string, unknown> }>> {
      const rows = await db
        .selectFrom('message_events')
        .select(['kind', 'occurred_at', 'recipients', 'details'])
        .where('message_id', '=', messageId)
        .orderBy('occurred_at')
        .orderBy('id')
        .execute();
      return rows.map((r) => ({
        kind: r.kind,
        occurredAt: r.occurred_at,
        recipients: JSON.parse(r.recipients) as string[],
        details: JSON.parse(r.details) as Record<string, unknown>,
      }));
    },
  };
}

export type EventProcessor = ReturnType<typeof createEventProcessor>;

function details(e: SesEvent): Record<string, unknown> {
  if (e.bounce) return { type: e.bounce.type, subType: e.bounce.subType, recipients: e.bounce.recipients };
  if (e.complaint) return { feedbackType: e.complaint.feedbackType };
  if (e.reject) return { reason: e.reject.reason };
  if (e.click) return { link: e.click.link };
  if (e.failure) return { errorMessage: e.failure.errorMessage };
  if (e.delay) return { type: e.delay.type };
  return {};
}
