import { backoffMs } from '../backoff.js';
import { type CredentialBroker, roleNotUsable } from '../aws/credentials.js';
import type { AwsGateway } from '../aws/gateway.js';
import { classifySendError, isAuthFailure, sendError, type SendVerdict } from '../aws/send-errors.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Job, JobQueue } from '../queue/job-queue.js';
import type { LastError, MessagesRepo, SendableMessage } from '../store/messages.js';
import { buildSendRequest } from '../aws/send-request.js';
import type { ConnectionCache } from './connections.js';
import type { Outcomes } from './outcome.js';
import type { Pacers } from './quota.js';
import type { SendConnection, SendingOptions, SendStats } from './types.js';
import type { WarmupCheck } from './warmup.js';

/** The repositories that mark a message in flight, bound to one transaction. */
export interface ClaimRepos {
  jobs: Pick<JobQueue, 'claim'>;
  messages: Pick<MessagesRepo, 'markSending'>;
}

export interface SendDeps {
  clock: Clock;
  logger: Logger;
  owner: string;
  options: Pick<SendingOptions, 'leaseMs' | 'maxAttempts'>;
  stats: SendStats;
  transaction: <T>(fn: (r: ClaimRepos) => Promise<T>) => Promise<T>;
  broker: Pick<CredentialBroker, 'provider' | 'drop'>;
  gateway: Pick<AwsGateway, 'sendEmail'>;
  connections: ConnectionCache;
  pacers: Pacers;
  warmup: WarmupCheck;
  outcomes: Outcomes;
  /** Pause the connection's queue and forget what is cached about it. */
  pause: (connectionId: string, code: string, reason: string) => Promise<void>;
  /** A send refused for credentials or permissions marks the connection failing. */
  health?: {
    recordSendFailure(e: {
      connectionId: string;
      workspaceId: string;
      code: string;
      message: string;
      messageId: string;
    }): Promise<void>;
  };
  /** True once the process is stopping: sends waiting for pacing give their job back instead. */
  stopping: () => boolean;
  random?: () => number;
  /** Called when pacing lets a message go (metrics, tests). */
  onAdmit?: (e: { connectionId: string; recipients: number; at: number }) => void;
}

/**
 * One message, from its leased job to SES and back: connection, warmup share, pacing,
 * credentials, the in-flight mark, the SendEmail call and the verdict on its answer.
 *
 * Delivery guarantee: at most once. The job is marked in flight (in the same transaction that
 * moves the message to `sending`) before SES is called; after that mark it is never sent again
 * on its own.
 */
export function createSend(deps: SendDeps) {
  const { clock, logger, outcomes, stats, options: o } = deps;
  const random = deps.random ?? Math.random;

  /**
   * A role connection not proven safe: the message waits, queued, no attempt counted, and the
   * connection's queue is skipped until a passing test makes it usable.
   */
  async function hold(job: Job, connectionId: string, why: LastError): Promise<void> {
    deps.connections.forget(connectionId);
    stats.deferred++;
    await outcomes.requeue(job, why, clock.now(), false);
  }

  async function onError(job: Job, conn: SendConnection, v: SendVerdict): Promise<void> {
    logger.info({ messageId: job.id, connectionId: conn.id, code: v.code, kind: v.kind }, 'send did not succeed');
    // The broker refused: the connection became unsafe (or unproven) after it was read.
    if (v.code === 'connection_unsafe' || v.code === 'connection_not_ready') return hold(job, conn.id, v);
    if (isAuthFailure(v))
      await deps.health
        ?.recordSendFailure({
          connectionId: conn.id,
          workspaceId: conn.workspaceId,
          code: v.code,
          message: v.message,
          messageId: job.id,
        })
        .catch((e: unknown) =>
          logger.error({ err: e, connectionId: conn.id }, 'could not record the connection health'),
        );
    switch (v.kind) {
      case 'retry':
      case 'refresh_credentials': {
        if (job.attempts + 1 >= o.maxAttempts)
          return outcomes
            .fail(job, { ...v, message: `${v.message} (gave up after ${job.attempts + 1} attempts)` })
            .then(() => undefined);
        stats.retried++;
        const wait = backoffMs(job.attempts, { baseMs: 1000, capMs: 10 * 60_000, jitter: 'full', random });
        return outcomes.requeue(job, v, new Date(clock.ms() + wait), true);
      }
      case 'pause_connection':
        await deps.pause(conn.id, v.code, v.message);
        if (v.outcomeUnknown) return outcomes.fail(job, v.outcomeUnknown);
        return outcomes.requeue(job, v, clock.now(), false);
      case 'defer_quota':
        stats.deferred++;
        return outcomes.requeue(job, v, new Date(clock.ms() + deps.pacers.dailyRecheckMs()), false);
      case 'fail':
      case 'unknown':
        return outcomes.fail(job, v);
    }
  }

  return async function send(job: Job, msg: SendableMessage | undefined): Promise<void> {
    if (!msg || (msg.status !== 'queued' && msg.status !== 'sending')) return outcomes.drop(job);
    const conn = await deps.connections.get(job.group);
    if (!conn)
      return outcomes.fail(
        job,
        sendError('connection_deleted', 'The connection was deleted before the message was sent.'),
      );
    if (conn.paused) return outcomes.later(job, clock.now());
    const refused = roleNotUsable(conn.subject);
    if (refused) return hold(job, conn.id, refused);

    const pacer = await deps.pacers.pacerFor(conn);
    const warm = await deps.warmup.admit({
      messageId: job.id,
      connectionId: conn.id,
      from: msg.from,
      recipients: msg.recipientCount,
      quota: deps.pacers.reading(pacer),
    });
    if (!warm.ok) {
      stats.deferred++;
      return outcomes.requeue(job, warm.hold, warm.until, false);
    }
    // Until SES is called, however this ends (an error thrown included: a busy database) gives the
    // day's warmup share back, and the pacer's take too.
    let paced = false;
    let sesCalled = false;
    let keepShare = false;
    try {
      for (;;) {
        const at = clock.ms();
        const take = pacer.tryTake(msg.recipientCount, at);
        if (take.ok) {
          paced = true;
          deps.onAdmit?.({ connectionId: conn.id, recipients: msg.recipientCount, at });
          break;
        }
        if (take.reason === 'daily' || take.waitMs > o.leaseMs / 4 || deps.stopping()) {
          stats.deferred++;
          const wait = take.reason === 'daily' ? deps.pacers.dailyRecheckMs() : take.waitMs;
          return await outcomes.later(job, new Date(clock.ms() + wait));
        }
        await clock.sleep(take.waitMs);
      }

      if (!msg.draft)
        return await outcomes.fail(
          job,
          sendError('message_unreadable', `The stored content of message ${job.id} could not be read.`),
        );
      const request = buildSendRequest(msg.id, msg.draft, conn.configurationSet);
      let creds;
      try {
        creds = await deps.broker.provider(conn.subject, 'send');
        await creds();
      } catch (e) {
        return await onError(job, conn, classifySendError(e));
      }

      // From here SES may accept the message: mark it in flight, or give up if our lease was lost.
      const marked = await deps.transaction(async (r) => {
        const now = clock.now();
        if (!(await r.jobs.claim('send', job.id, deps.owner, now, o.leaseMs))) return false;
        await r.messages.markSending(job.id, job.attempts + 1, now.toISOString());
        return true;
      });
      if (!marked) return;

      sesCalled = true;
      keepShare = true;
      let verdict: SendVerdict;
      try {
        const sesId = await deps.gateway.sendEmail(creds, conn.region, request);
        // Not awaited here: a failure to record the success must not be taken for an SES error.
        return outcomes.succeed(job, sesId);
      } catch (e) {
        verdict = classifySendError(e);
      }
      if (verdict.kind === 'refresh_credentials') {
        // Once: drop the cached session, mint a fresh one, send again.
        deps.broker.drop(conn.id);
        try {
          const fresh = await deps.broker.provider(conn.subject, 'send');
          const sesId = await deps.gateway.sendEmail(fresh, conn.region, request);
          return outcomes.succeed(job, sesId);
        } catch (e) {
          verdict = classifySendError(e);
          if (verdict.kind === 'refresh_credentials') verdict = { ...verdict, kind: 'retry' };
        }
      }
      // SES did not take it (except perhaps when the outcome is unknown): it does not use the day's allowance.
      if (verdict.kind !== 'unknown') keepShare = false;
      return await onError(job, conn, verdict);
    } finally {
      if (paced && !sesCalled) pacer.refund(msg.recipientCount);
      if (!keepShare) await warm.release();
    }
  };
}
