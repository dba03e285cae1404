import { backoffMs } from '../../backoff.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { newId } from '../../ids.js';
import type { Logger } from '../../logger.js';
import type { LoopSpec } from '../../runner.js';
import type {
  EventDetails,
  MessageEvent,
  MessageEventsRepo,
  NotificationOutcome,
  SnsMessagesRepo,
  StoredNotification,
} from '../../store/events.js';
import type { CountIncrement } from '../../store/analytics.js';
import type { MessageStatus } from '../../store/messages.js';
import type { Repos } from '../../store/repos.js';
import type { Audit } from '../audit/audit.js';
import { kindOfEvent } from '../analytics/kinds.js';
import type { Suppressions } from '../suppressions/suppressions.js';
import { type EventKind, parseSesEvent, type SesEvent } from './parse.js';

/**
 * Applies stored SNS notifications: the event joins its message's timeline, the message status
 * moves forward, and bounces and complaints feed the suppression list. Idempotent (SNS and our
 * own retries may deliver one event twice) and order-independent (events arrive in any order).
 */

/** Where an event takes a message; a status only ever moves to a higher rank. */
const STATUS_OF: Partial<Record<EventKind, { status: MessageStatus; rank: number }>> = {
  delivery_delay: { status: 'delayed', rank: 1 },
  delivery: { status: 'delivered', rank: 2 },
  bounce: { status: 'bounced', rank: 3 },
  complaint: { status: 'complained', rank: 4 },
  reject: { status: 'rejected', rank: 5 },
  rendering_failure: { status: 'rejected', rank: 5 },
};
const RANK: Partial<Record<MessageStatus, number>> = {
  sending: 0,
  sent: 0,
  delayed: 1,
  delivered: 2,
  bounced: 3,
  complained: 4,
  rejected: 5,
};

/** A failed application is tried again 5 s later, doubling up to 10 minutes, 10 times in all. */
const RETRY = { baseMs: 5_000, capMs: 600_000 } as const;
const MAX_ATTEMPTS = 10;
const BATCH = 200;
/** Retries of failed applications fall due on this beat. */
const BEAT_MS = 2000;
/** Notifications arriving together are applied in one batch: a kick waits this long. */
const KICK_DELAY_MS = 5;

/** An event as it joined the timeline (the message_events row), for whoever listens to events. */
export type RecordedEvent = MessageEvent;

/** The repositories of one transaction, and the audit log written in it. */
export type EventTx = Repos & { auditLog: Pick<Audit, 'record'> };

export function createEventProcessor(deps: {
  notifications: Pick<SnsMessagesRepo, 'due' | 'retryAt' | 'markProcessed'>;
  events: Pick<MessageEventsRepo, 'timeline'>;
  /** Runs `fn` in one transaction: the event, its effects and their audit rows commit together. */
  transaction: <T>(fn: (tx: EventTx) => Promise<T>) => Promise<T>;
  suppressions: Pick<Suppressions, 'addFromEvent'>;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, 'transientBounceLimit' | 'transientBounceWindowDays'>;
  /** Bounces and complaints are weighed against the connection's recent sends. */
  onReputationEvent?: (connectionId: string) => Promise<unknown>;
  /** Runs in the transaction that records a new event, so work it enqueues (webhooks) is as durable as the event. */
  onEvent?: (tx: EventTx, event: RecordedEvent) => Promise<void>;
  /** After each committed batch (work the events enqueued, such as webhook deliveries, can start). */
  onApplied?: () => Promise<void> | void;
}) {
  const { clock } = deps;

  /** Apply one stored notification inside `tx`; bounces and complaints name their connection in `touched`. */
  async function apply(
    tx: EventTx,
    n: StoredNotification,
    touched: Set<string>,
    counted: CountIncrement[],
  ): Promise<NotificationOutcome> {
    const parsed = parseSesEvent(n.body.Message);
    if (!parsed.ok) return parsed.reason;
    const e = parsed.event;
    const now = clock.now().toISOString();
    // By SES message id; else by our own header (the send may not be recorded yet).
    const msg = await tx.messages.findForEvent(n.workspaceId, e.sesMessageId, e.sesameMessageId ?? undefined);
    const recorded: RecordedEvent = {
      id: newId('evt', clock.ms()),
      workspaceId: n.workspaceId,
      connectionId: n.connectionId,
      messageId: msg?.id ?? null,
      sesMessageId: e.sesMessageId,
      kind: e.kind,
      occurredAt: new Date(Date.parse(e.occurredAt) || clock.ms()).toISOString(),
      recipients: e.recipients,
      details: details(e),
      createdAt: now,
    };
    if (!(await tx.messageEvents.insert(recorded, n.id))) return 'applied'; // applied before
    const kind = kindOfEvent(e);
    if (kind) counted.push({ workspaceId: n.workspaceId, connectionId: n.connectionId, kind, at: recorded.occurredAt });
    const next = STATUS_OF[e.kind];
    if (msg && next && (RANK[msg.status] ?? 99) < next.rank)
      await tx.messages.moveStatus(msg.id, msg.status, next.status, now);
    await suppress(tx, n.workspaceId, e);
    await deps.onEvent?.(tx, recorded);
    if (e.kind === 'bounce' || e.kind === 'complaint') touched.add(n.connectionId);
    return 'applied';
  }

  /** Through the suppression list's owner, so every address added is audited, in this transaction. */
  async function suppress(tx: EventTx, workspaceId: string, e: SesEvent): Promise<void> {
    const add = (emails: string[], reason: string) =>
      emails.length
        ? deps.suppressions.addFromEvent(tx, workspaceId, { emails, reason, sesMessageId: e.sesMessageId })
        : undefined;
    if (e.kind === 'complaint') return void (await add(e.recipients, 'complaint'));
    if (e.kind !== 'bounce' || !e.bounce) return;
    if (e.bounce.type === 'Permanent') return void (await add(e.recipients, 'bounce'));
    if (e.bounce.type !== 'Transient') return;
    // Transient bounces suppress only when they repeat within the window.
    const { transientBounceLimit: limit, transientBounceWindowDays: days } = deps.config;
    const since = new Date(clock.ms() - days * 86_400_000).toISOString();
    const repeated: string[] = [];
    for (const email of e.recipients)
      if ((await tx.messageEvents.transientBounces(workspaceId, email, since)) >= limit) repeated.push(email);
    await add(repeated, `repeated transient bounces (${limit} in ${days} days)`);
  }

  /**
   * One batch of what is due. It is applied in one transaction (one commit instead of one per
   * notification); if any notification in it fails, the batch is rolled back and applied one by
   * one, so a bad notification is retried alone and never holds back the others.
   */
  async function pass(): Promise<boolean> {
    const rows = await deps.notifications.due(clock.now(), BATCH);
    if (rows.length === 0) return false;
    const touched = new Set<string>();
    const inOne = (batch: StoredNotification[]) =>
      deps.transaction(async (tx) => {
        const counted: CountIncrement[] = [];
        for (const n of batch)
          await tx.snsMessages.markProcessed(
            n.id,
            await apply(tx, n, touched, counted),
            n.attempts + 1,
            clock.now().toISOString(),
          );
        // The analytics counts of the whole batch, in its transaction: one statement, not one per event.
        await tx.analytics.add(counted);
      });
    try {
      await inOne(rows);
    } catch {
      touched.clear();
      for (const n of rows) {
        try {
          await inOne([n]);
        } catch (err) {
          await failed(n, err);
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
    return true;
  }

  async function failed(n: StoredNotification, err: unknown): Promise<void> {
    const attempts = n.attempts + 1;
    const message = (err as Error).message;
    deps.logger.warn({ snsMessageId: n.id, attempts, err: message }, 'applying an SES event failed');
    if (attempts >= MAX_ATTEMPTS)
      return deps.notifications.markProcessed(n.id, `failed: ${message}`, attempts, clock.now().toISOString());
    const wait = backoffMs(attempts - 1, { ...RETRY, jitter: 'none' });
    await deps.notifications.retryAt(n.id, attempts, new Date(clock.ms() + wait).toISOString());
  }

  return {
    /** Apply what is due now; true when there was something (more may be due). */
    pass,
    /** The `events` loop: kicked when a notification is stored; retries fall due on its beat. */
    loop: { name: 'events', everyMs: BEAT_MS, kickDelayMs: KICK_DELAY_MS, pass } satisfies LoopSpec,
    /** The timeline of one message. */
    async timeline(
      messageId: string,
    ): Promise<Array<{ kind: string; occurredAt: string; recipients: string[]; details: EventDetails }>> {
      return deps.events.timeline(messageId);
    },
  };
}

export type EventProcessor = ReturnType<typeof createEventProcessor>;

function details(e: SesEvent): EventDetails {
  if (e.bounce) return { type: e.bounce.type, subType: e.bounce.subType, recipients: e.bounce.recipients };
  if (e.complaint) return { feedbackType: e.complaint.feedbackType };
  if (e.reject) return { reason: e.reject.reason };
  if (e.click) return { link: e.click.link };
  if (e.failure) return { errorMessage: e.failure.errorMessage };
  if (e.delay) return { type: e.delay.type };
  return {};
}
