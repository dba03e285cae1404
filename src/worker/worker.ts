import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { type CredentialBroker, type CredentialSubject, roleNotUsable } from '../aws/credentials.js';
import type { AwsGateway } from '../aws/gateway.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Audit } from '../modules/audit/audit.js';
import type { Draft } from '../modules/messages/input.js';
import type { WarmupGate } from '../modules/warmup/gate.js';
import type { SendJob, SendQueue } from '../queue/send-queue.js';
import type { Db } from '../store/db.js';
import type { ConnectionTable } from '../store/schema.js';
import { buildSendRequest } from './build-request.js';
import { backoffMs, classify, isAuthFailure, type Verdict } from './classify.js';
import { DAILY_RECHECK_MS, Pacer, type Quota } from './pacer.js';

export interface WorkerOptions {
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  maxAttempts: number;
  /** How often the SES quota is read again (GetAccount). */
  quotaRefreshMs: number;
}

export interface WorkerDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  queue: SendQueue;
  broker: Pick<CredentialBroker, 'provider' | 'drop' | 'withCredentials'>;
  gateway: Pick<AwsGateway, 'sendEmail' | 'getAccount'>;
  subject: (row: ConnectionTable) => CredentialSubject;
  audit: Pick<Audit, 'record'>;
  /** Connection health: a send refused for credentials or permissions marks the connection failing. */
  health?: {
    recordSendFailure(e: {
      connectionId: string;
      workspaceId: string;
      code: string;
      message: string;
      messageId: string;
    }): Promise<void>;
  };
  /** Warmup plans: each day's allowance per connection (and sending domain). */
  warmup?: Pick<WarmupGate, 'admit' | 'noteQuota'>;
  options: WorkerOptions;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called when pacing lets a message go (metrics, tests). */
  onAdmit?: (e: { connectionId: string; recipients: number; at: number }) => void;
}

/**
 * Workers announce themselves this often; one silent for three beats no longer counts. When a
 * worker joins or leaves, the others adjust their share within one beat.
 */
const HEARTBEAT_MS = 1000;

/** Until SES has told us the quota, assume the SES sandbox's: 1 per second, 200 a day. */
const SANDBOX_QUOTA: Quota = { maxSendRate: 1, max24HourSend: 200, sentLast24Hours: 0 };

/**
 * The send worker. It leases due jobs, paces them per connection, sends each with `send`
 * credentials, and records the outcome. Delivery guarantee: at most once. A job is marked in
 * flight (in the same transaction that moves the message to `sending`) before SES is called; if
 * the worker dies after that, nobody can know whether SES accepted the message, so it is not sent
 * again on its own: it becomes `failed` with code `send_outcome_unknown`, for a person to check
 * and retry. A job that was leased but not yet in flight is simply taken again.
 */
export function createWorker(deps: WorkerDeps) {
  const { db, clock, queue, options: o } = deps;
  const owner = `worker-${randomBytes(6).toString('hex')}`;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = deps.random ?? Math.random;
  const pacers = new Map<string, Pacer>();
  const quotaLoads = new Map<string, Promise<void>>();
  const connCache = new Map<string, { at: number; row: ConnectionTable | undefined }>();
  const inFlight = new Set<Promise<void>>();
  let paused: { at: number; ids: string[] } = { at: 0, ids: [] };
  let stopping = false;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  let lastRecovery = 0;
  const stats = { sent: 0, failed: 0, retried: 0, deferred: 0 };

  const now = () => clock.now();
  /** Over the daily quota, look again when the quota is next read (at most every 15 minutes). */
  const dailyRecheckMs = () => Math.min(DAILY_RECHECK_MS, o.quotaRefreshMs);

  async function connection(id: string): Promise<ConnectionTable | undefined> {
    const hit = connCache.get(id);
    if (hit && Date.now() - hit.at < 2000) return hit.row;
    const row = await db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
    connCache.set(id, { at: Date.now(), row });
    return row;
  }

  /** Connections whose queue waits: paused, or a role not (or no longer) proven to require its External ID. */
  async function pausedConnections(): Promise<string[]> {
    if (Date.now() - paused.at < 1000) return paused.ids;
    const rows = await db
      .selectFrom('connections')
      .select('id')
      .where((eb) =>
        eb.or([
          eb('paused_reason', 'is not', null),
          eb.and([
            eb('mode', '=', 'role'),
            eb.or([
              eb('status', '=', 'unsafe'),
              eb('role_arn', 'is', null),
              eb('external_id_proven_at', 'is', null),
              eb('external_id_proven_role_arn', 'is', null),
              eb('external_id_proven_role_arn', '!=', eb.ref('role_arn')),
            ]),
          ]),
        ]),
      )
      .execute();
    paused = { at: Date.now(), ids: rows.map((r) => r.id) };
    return paused.ids;
  }

  /** The pacer of a connection, with its quota read from SES (read credentials) and refreshed periodically. */
  async function pacerFor(conn: ConnectionTable): Promise<Pacer> {
    let p = pacers.get(conn.id);
    const t = now().getTime();
    if (!p) {
      p = new Pacer(SANDBOX_QUOTA, 0);
      p.share = currentShare;
      pacers.set(conn.id, p);
    }
    if (t - p.quotaAt >= o.quotaRefreshMs) {
      let load = quotaLoads.get(conn.id);
      if (!load) {
        const pacer = p;
        load = (async () => {
          try {
            const account = await deps.broker.withCredentials(deps.subject(conn), 'read', (creds) =>
              deps.gateway.getAccount(creds, conn.region),
            );
            pacer.setQuota(
              {
                maxSendRate: account.maxSendRate,
                max24HourSend: account.max24HourSend,
                sentLast24Hours: account.sentLast24Hours,
              },
              now().getTime(),
            );
            await deps.warmup
              ?.noteQuota(conn.id, account.max24HourSend)
              .catch((e: unknown) =>
                deps.logger.warn(
                  { connectionId: conn.id, err: (e as Error)?.message },
                  'could not note the quota on warmup plans',
                ),
              );
            // SES reviewing the account (PROBATION) or stopping it: stop sending before it gets worse.
            if (
              !account.sendingEnabled ||
              account.enforcementStatus === 'SHUTDOWN' ||
              account.enforcementStatus === 'PROBATION'
            ) {
              await pause(
                conn,
                'ses_sending_paused',
                `SES reports sending ${account.sendingEnabled ? 'enabled' : 'disabled'}, enforcement ${account.enforcementStatus}.`,
              );
            }
          } catch (e) {
            // Keep the last known quota (or the sandbox's) and try again later.
            pacer.quotaAt = now().getTime() - o.quotaRefreshMs + 30_000;
            deps.logger.warn({ connectionId: conn.id, err: (e as Error)?.message }, 'could not read the SES quota');
          } finally {
            quotaLoads.delete(conn.id);
          }
        })();
        quotaLoads.set(conn.id, load);
      }
      // Deciding on a stale quota could hold a message a whole recheck period for nothing.
      await load;
    }
    return p;
  }

  async function pause(conn: ConnectionTable, code: string, reason: string): Promise<void> {
    const res = await db
      .updateTable('connections')
      .set({ paused_reason: `${code}: ${reason}`.slice(0, 500), paused_at: now().toISOString() })
      .where('id', '=', conn.id)
      .where('paused_reason', 'is', null)
      .executeTakeFirst();
    paused.at = 0;
    connCache.delete(conn.id);
    if (Number(res.numUpdatedRows) > 0) {
      deps.logger.warn({ connectionId: conn.id, code }, 'connection paused');
      await deps.audit.record({
        workspaceId: conn.workspace_id,
        connectionId: conn.id,
        actor: 'system',
        action: 'connection.paused',
        outcome: code,
        details: { reason },
      });
    }
  }

  async function setQueued(job: SendJob, v: Verdict, runAt: Date, countAttempt: boolean): Promise<void> {
    // Only a message still on its way: a person may have cancelled it meanwhile.
    const res = await db
      .updateTable('messages')
      .set({
        status: 'queued',
        last_error_code: v.code,
        last_error_message: v.message,
        last_error_hint: v.hint,
        updated_at: now().toISOString(),
      })
      .where('id', '=', job.messageId)
      .where('status', 'in', ['queued', 'sending'])
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return db.transaction().execute((trx) => queue.finish(trx, job.messageId));
    await queue.retryAt(job.messageId, runAt, countAttempt);
  }

  async function fail(job: SendJob, v: { code: string; message: string; hint: string }): Promise<void> {
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('messages')
        .set({
          status: 'failed',
          last_error_code: v.code,
          last_error_message: v.message,
          last_error_hint: v.hint,
          updated_at: now().toISOString(),
        })
        .where('id', '=', job.messageId)
        .where('status', 'in', ['queued', 'sending'])
        .execute();
      await queue.finish(trx, job.messageId);
    });
    stats.failed++;
  }

  type Loaded = {
    id: string;
    status: string;
    payload: string;
    recipient_count: number;
    workspace_id: string;
    from_address: string;
  };

  const NO_WARMUP = { release: async () => undefined };

  /**
   * Today's share of the warmup plans covering the message, taken before SES is called and given
   * back whenever SES does not end up with the message. Over the allowance the job moves to the
   * start of the next warmup day: held like the daily quota, not failed, no attempt counted.
   */
  async function warmupAdmit(
    job: SendJob,
    conn: ConnectionTable,
    msg: Loaded,
    pacer: Pacer,
  ): Promise<{ release(): Promise<void> } | undefined> {
    if (!deps.warmup) return NO_WARMUP;
    // The sandbox quota is the pacer's guess, not a reading: the gate then uses the quota last noted on the plan.
    const quota = pacer.quota === SANDBOX_QUOTA ? null : pacer.quota.max24HourSend;
    const a = await deps.warmup.admit({
      connectionId: conn.id,
      from: msg.from_address,
      recipients: msg.recipient_count,
      quota,
    });
    if (a.ok) {
      return {
        release: () =>
          a
            .release()
            .catch((e: unknown) =>
              deps.logger.error({ err: e, messageId: job.messageId }, 'could not give back a warmup allowance'),
            ),
      };
    }
    stats.deferred++;
    deps.logger.info(
      { messageId: job.messageId, connectionId: conn.id, until: a.until.toISOString() },
      'held by warmup plan',
    );
    await setQueued(job, { kind: 'defer_quota', ...a.hold }, a.until, false);
    return undefined;
  }

  async function handle(job: SendJob, msg: Loaded | undefined): Promise<void> {
    if (!msg || (msg.status !== 'queued' && msg.status !== 'sending')) {
      await db.transaction().execute((trx) => queue.finish(trx, job.messageId));
      return;
    }
    const conn = await connection(job.connectionId);
    if (!conn)
      return fail(job, {
        code: 'connection_deleted',
        message: 'The connection was deleted before the message was sent.',
        hint: 'Send the message again through another connection.',
      });
    if (conn.paused_reason) return queue.retryAt(job.messageId, now(), false);
    const refused = roleNotUsable(deps.subject(conn));
    if (refused)
      return hold(job, conn, { kind: 'defer_quota', code: refused.code, message: refused.message, hint: refused.hint });

    const pacer = await pacerFor(conn);
    const warm = await warmupAdmit(job, conn, msg, pacer);
    if (!warm) return;
    // Until SES is called, however this ends (an error thrown included: a corrupt payload, a busy
    // database) gives the day's warmup share back, and the pacer's take too.
    let paced = false;
    let sesCalled = false;
    let keepShare = false;
    try {
      for (;;) {
        const at = now().getTime();
        const take = pacer.tryTake(msg.recipient_count, at);
        if (take.ok) {
          paced = true;
          deps.onAdmit?.({ connectionId: conn.id, recipients: msg.recipient_count, at });
          break;
        }
        if (take.reason === 'daily' || take.waitMs > o.leaseMs / 4 || stopping) {
          stats.deferred++;
          await queue.retryAt(
            job.messageId,
            new Date(now().getTime() + (take.reason === 'daily' ? dailyRecheckMs() : take.waitMs)),
            false,
          );
          return;
        }
        await sleep(take.waitMs);
      }

      const draft = JSON.parse(msg.payload) as Draft;
      const request = buildSendRequest(msg.id, draft, conn.configuration_set);
      let creds;
      try {
        creds = await deps.broker.provider(deps.subject(conn), 'send');
        await creds();
      } catch (e) {
        return await onError(job, conn, classify(e));
      }

      // From here SES may accept the message: mark it in flight, or give up if our lease was lost.
      const marked = await db.transaction().execute(async (trx) => {
        if (!(await queue.claimForSend(trx, job.messageId, owner, now(), o.leaseMs))) return false;
        await trx
          .updateTable('messages')
          .set({ status: 'sending', attempts: job.attempts + 1, updated_at: now().toISOString() })
          .where('id', '=', job.messageId)
          .execute();
        return true;
      });
      if (!marked) return;

      sesCalled = true;
      keepShare = true;
      let verdict: Verdict;
      try {
        const sesId = await deps.gateway.sendEmail(creds, conn.region, request);
        // Not awaited here: a failure to record the success must not be taken for an SES error.
        return succeed(job, sesId);
      } catch (e) {
        verdict = classify(e);
      }
      if (verdict.kind === 'refresh_credentials') {
        // Once: drop the cached session, mint a fresh one, send again.
        deps.broker.drop(conn.id);
        try {
          const fresh = await deps.broker.provider(deps.subject(conn), 'send');
          const sesId = await deps.gateway.sendEmail(fresh, conn.region, request);
          return succeed(job, sesId);
        } catch (e) {
          verdict = classify(e);
          if (verdict.kind === 'refresh_credentials') verdict = { ...verdict, kind: 'retry' };
        }
      }
      // SES did not take it (except perhaps when the outcome is unknown): it does not use the day's allowance.
      if (verdict.kind !== 'unknown') keepShare = false;
      return await onError(job, conn, verdict);
    } finally {
      if (paced && !sesCalled) pacer.refund(msg.recipient_count);
      if (!keepShare) await warm.release();
    }
  }

  /**
   * Outcomes of successful sends are written in small groups (one transaction per group, not per
   * message). Until its group is written a message stays in flight, so a crash in between leaves it
   * `send_outcome_unknown`, never sent twice.
   */
  let pending: Array<{ messageId: string; sesId: string; at: string; done: () => void; fail: (e: unknown) => void }> =
    [];
  let flushTimer: NodeJS.Timeout | undefined;
  async function flushSucceeded(): Promise<void> {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    try {
      // SES has these messages: try hard to record it (a busy database is not a reason to lose it).
      await withRetries(() =>
        db.transaction().execute(async (trx) => {
          for (const b of batch) {
            // An SES event may already have moved the message on (delivered, bounced…): keep that.
            await trx
              .updateTable('messages')
              .set({
                status: sql<string>`case when status in ('queued', 'sending') then 'sent' else status end`,
                ses_message_id: b.sesId,
                sent_at: b.at,
                updated_at: b.at,
                last_error_code: null,
                last_error_message: null,
                last_error_hint: null,
              })
              .where('id', '=', b.messageId)
              .execute();
          }
          for (const b of batch) await queue.finish(trx, b.messageId);
        }),
      );
      stats.sent += batch.length;
      for (const b of batch) b.done();
    } catch (e) {
      for (const b of batch) b.fail(e);
    }
  }

  function succeed(job: SendJob, sesId: string): Promise<void> {
    return new Promise<void>((done, fail) => {
      pending.push({ messageId: job.messageId, sesId, at: now().toISOString(), done, fail });
      if (pending.length >= Math.max(8, Math.floor(o.concurrency / 2))) void flushSucceeded();
      else flushTimer ??= setTimeout(() => void flushSucceeded(), 5);
    });
  }

  /**
   * A role connection not proven safe: the message waits, queued, no attempt counted, and the
   * connection's queue is skipped until a passing test makes it usable (which wakes the worker).
   */
  async function hold(job: SendJob, conn: ConnectionTable, v: Verdict): Promise<void> {
    paused.at = 0;
    connCache.delete(conn.id);
    stats.deferred++;
    await setQueued(job, v, now(), false);
  }

  async function onError(job: SendJob, conn: ConnectionTable, v: Verdict): Promise<void> {
    deps.logger.info(
      { messageId: job.messageId, connectionId: conn.id, code: v.code, kind: v.kind },
      'send did not succeed',
    );
    // The broker refused: the connection became unsafe (or unproven) after it was read.
    if (v.code === 'connection_unsafe' || v.code === 'connection_not_ready') return hold(job, conn, v);
    if (isAuthFailure(v))
      await deps.health
        ?.recordSendFailure({
          connectionId: conn.id,
          workspaceId: conn.workspace_id,
          code: v.code,
          message: v.message,
          messageId: job.messageId,
        })
        .catch((e: unknown) =>
          deps.logger.error({ err: e, connectionId: conn.id }, 'could not record the connection health'),
        );
    switch (v.kind) {
      case 'retry':
      case 'refresh_credentials':
        if (job.attempts + 1 >= o.maxAttempts)
          return fail(job, { ...v, message: `${v.message} (gave up after ${job.attempts + 1} attempts)` });
        stats.retried++;
        return setQueued(job, v, new Date(now().getTime() + backoffMs(job.attempts, random)), true);
      case 'pause_connection':
        await pause(conn, v.code, v.message);
        if (v.outcomeUnknown) return fail(job, v.outcomeUnknown);
        return setQueued(job, v, now(), false);
      case 'defer_quota':
        stats.deferred++;
        return setQueued(job, v, new Date(now().getTime() + dailyRecheckMs()), false);
      case 'fail':
      case 'unknown':
        return fail(job, v);
    }
  }

  async function withRetries<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (e) {
        if (i >= attempts) throw e;
        await new Promise((r) => setTimeout(r, 50 * 2 ** i));
      }
    }
  }

  /** Jobs whose worker died while SES had them: at most once, so they wait for a person. */
  async function recover(): Promise<number> {
    lastRecovery = Date.now();
    // Idempotency keys live 24 hours.
    await db.deleteFrom('idempotency_keys').where('expires_at', '<', now().toISOString()).execute();
    return db.transaction().execute(async (trx) => {
      const abandoned = await queue.takeAbandonedInFlight(trx, now());
      for (const j of abandoned) {
        await trx
          .updateTable('messages')
          .set({
            status: 'failed',
            last_error_code: 'send_outcome_unknown',
            last_error_message: `The worker stopped while SES was handling this message (since ${j.inFlightSince}); SES may or may not have accepted it.`,
            last_error_hint:
              'Check whether the recipient got it (SES events carry the X-Sesame-Message-Id header); if not, send it again with POST /v1/emails/:id/retry.',
            updated_at: now().toISOString(),
          })
          .where('id', '=', j.messageId)
          .where('status', 'in', ['queued', 'sending'])
          .execute();
      }
      return abandoned.length;
    });
  }

  /** Heartbeat, and the number of live workers sharing each connection's quota. */
  let heartbeatAt = 0;
  async function heartbeat(): Promise<void> {
    heartbeatAt = Date.now();
    const t = now();
    await db
      .insertInto('workers')
      .values({ id: owner, heartbeat_at: t.toISOString(), started_at: t.toISOString() })
      .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: t.toISOString() }))
      .execute();
    const live = await db
      .selectFrom('workers')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('heartbeat_at', '>', new Date(t.getTime() - HEARTBEAT_MS * 3).toISOString())
      .executeTakeFirstOrThrow();
    await db
      .deleteFrom('workers')
      .where('heartbeat_at', '<', new Date(t.getTime() - HEARTBEAT_MS * 12).toISOString())
      .execute();
    const share = Math.max(1, Number(live.n));
    for (const p of pacers.values()) p.share = share;
    currentShare = share;
  }
  let currentShare = 1;

  async function run(): Promise<void> {
    await heartbeat();
    await recover();
    while (!stopping) {
      if (Date.now() - heartbeatAt > HEARTBEAT_MS)
        await heartbeat().catch((e) => deps.logger.error({ err: e }, 'heartbeat failed'));
      if (Date.now() - lastRecovery > o.leaseMs / 2)
        await recover().catch((e) => deps.logger.error({ err: e }, 'recovery failed'));
      const room = o.concurrency - inFlight.size;
      // Lease in batches: one query for several jobs instead of one per finished send.
      if (room <= 0 || (inFlight.size > 0 && room < Math.max(1, Math.floor(o.concurrency / 4)))) {
        await Promise.race(inFlight);
        continue;
      }
      let jobs: SendJob[] = [];
      try {
        jobs = await queue.lease({
          owner,
          limit: room,
          now: now(),
          leaseMs: o.leaseMs,
          skipConnections: await pausedConnections(),
        });
      } catch (e) {
        deps.logger.error({ err: e }, 'leasing jobs failed');
      }
      if (jobs.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, o.pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        continue;
      }
      const loaded = new Map(
        (
          await db
            .selectFrom('messages')
            .select(['id', 'status', 'payload', 'recipient_count', 'workspace_id', 'from_address'])
            .where(
              'id',
              'in',
              jobs.map((j) => j.messageId),
            )
            .execute()
        ).map((m) => [m.id, m]),
      );
      for (const job of jobs) {
        const p = handle(job, loaded.get(job.messageId))
          .catch((e) => deps.logger.error({ err: e, messageId: job.messageId }, 'send handling failed'))
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    }
    await Promise.allSettled([...inFlight]);
    await flushSucceeded();
    await db
      .deleteFrom('workers')
      .where('id', '=', owner)
      .execute()
      .catch(() => undefined);
  }

  return {
    owner,
    stats,
    start(): void {
      stopping = false;
      loop ??= run().finally(() => {
        loop = undefined;
      });
    },
    /** A new message is queued: look now instead of at the next poll. */
    kick(): void {
      wake?.();
    },
    /** Stop taking jobs, let in-flight sends finish, then resolve. */
    async stop(): Promise<void> {
      stopping = true;
      wake?.();
      await loop;
    },
    recover,
    inFlight: () => inFlight.size,
    /** A connection was paused or changed elsewhere: stop trusting what this worker cached. */
    connectionChanged(connectionId: string): void {
      paused.at = 0;
      connCache.delete(connectionId);
    },
  };
}

export type Worker = ReturnType<typeof createWorker>;
