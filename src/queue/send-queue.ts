import { sql, type Transaction } from 'kysely';
import type { Db, Dialect } from '../store/db.js';
import type { Database } from '../store/schema.js';

export interface SendJob {
  messageId: string;
  connectionId: string;
  runAt: string;
  attempts: number;
  inFlightSince: string | null;
}

export type Executor = Db | Transaction<Database>;

/**
 * The send queue: one row per message waiting to go to SES, in the same database as the messages,
 * so a message and its job are written in one transaction. Workers take jobs by lease; a lease that
 * runs out (the worker died) makes the job available again, unless the job was in flight.
 */
export interface SendQueue {
  enqueue(trx: Executor, job: { messageId: string; connectionId: string; runAt: string; now: string }): Promise<void>;
  lease(opts: {
    owner: string;
    limit: number;
    now: Date;
    leaseMs: number;
    skipConnections: readonly string[];
  }): Promise<SendJob[]>;
  /**
   * Mark the job as handed to SES, inside the caller's transaction (which also moves the message
   * to `sending`): from here on its outcome is unknown until finish/retry. False when this worker
   * no longer holds the lease (it expired and another worker took the job).
   */
  claimForSend(trx: Executor, messageId: string, owner: string, now: Date, leaseMs?: number): Promise<boolean>;
  finish(trx: Executor, messageId: string): Promise<void>;
  retryAt(messageId: string, runAt: Date, countAttempt: boolean): Promise<void>;
  /** Delete a job that is not in flight; false when a worker is sending it right now. */
  cancel(trx: Executor, messageId: string, now: Date): Promise<boolean>;
  /** Jobs whose worker died while SES was handling them. */
  takeAbandonedInFlight(trx: Executor, now: Date): Promise<SendJob[]>;
  depth(): Promise<number>;
}

export function createSendQueue(deps: { db: Db; dialect: Dialect }): SendQueue {
  const { db, dialect } = deps;
  const toJob = (r: {
    message_id: string;
    connection_id: string;
    run_at: string;
    attempts: number;
    in_flight_since: string | null;
  }): SendJob => ({
    messageId: r.message_id,
    connectionId: r.connection_id,
    runAt: r.run_at,
    attempts: r.attempts,
    inFlightSince: r.in_flight_since,
  });

  return {
    async enqueue(trx, job) {
      await trx
        .insertInto('send_jobs')
        .values({
          message_id: job.messageId,
          connection_id: job.connectionId,
          run_at: job.runAt,
          attempts: 0,
          lease_owner: null,
          lease_expires_at: null,
          in_flight_since: null,
          created_at: job.now,
        })
        .execute();
    },

    async lease({ owner, limit, now, leaseMs, skipConnections }) {
      const iso = now.toISOString();
      const until = new Date(now.getTime() + leaseMs).toISOString();
      let due = db
        .selectFrom('send_jobs')
        .select('message_id')
        .where('run_at', '<=', iso)
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', iso)]))
        .where('in_flight_since', 'is', null)
        // Jobs held to one time (the next warmup day) go in the order they were queued: ids are time-ordered.
        .orderBy('run_at')
        .orderBy('message_id')
        .limit(limit);
      if (skipConnections.length) due = due.where('connection_id', 'not in', [...skipConnections]);
      // PostgreSQL: concurrent workers skip each other's rows instead of waiting on them.
      if (dialect === 'postgres') due = due.forUpdate().skipLocked();
      const rows = await db
        .updateTable('send_jobs')
        .set({ lease_owner: owner, lease_expires_at: until })
        .where('message_id', 'in', due)
        .returning(['message_id', 'connection_id', 'run_at', 'attempts', 'in_flight_since'])
        .execute();
      return rows
        .map(toJob)
        .sort((a, b) =>
          a.runAt < b.runAt
            ? -1
            : a.runAt > b.runAt
              ? 1
              : a.messageId < b.messageId
                ? -1
                : a.messageId > b.messageId
                  ? 1
                  : 0,
        );
    },

    async claimForSend(trx, messageId, owner, now, leaseMs) {
      const iso = now.toISOString();
      const res = await trx
        .updateTable('send_jobs')
        // A fresh lease for the send itself, so a slow answer is not taken for a dead worker.
        .set({
          in_flight_since: iso,
          ...(leaseMs ? { lease_expires_at: new Date(now.getTime() + leaseMs).toISOString() } : {}),
        })
        .where('message_id', '=', messageId)
        .where('lease_owner', '=', owner)
        .where('lease_expires_at', '>', iso)
        .where('in_flight_since', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },

    async finish(trx, messageId) {
      await trx.deleteFrom('send_jobs').where('message_id', '=', messageId).execute();
    },

    async retryAt(messageId, runAt, countAttempt) {
      await db
        .updateTable('send_jobs')
        .set({
          run_at: runAt.toISOString(),
          lease_owner: null,
          lease_expires_at: null,
          in_flight_since: null,
          ...(countAttempt ? { attempts: sql<number>`attempts + 1` } : {}),
        })
        .where('message_id', '=', messageId)
        .execute();
    },

    async cancel(trx, messageId, now) {
      const res = await trx
        .deleteFrom('send_jobs')
        .where('message_id', '=', messageId)
        .where((eb) => eb.or([eb('in_flight_since', 'is', null), eb('lease_expires_at', '<', now.toISOString())]))
        .executeTakeFirst();
      if (Number(res.numDeletedRows) > 0) return true;
      const still = await trx
        .selectFrom('send_jobs')
        .select('message_id')
        .where('message_id', '=', messageId)
        .executeTakeFirst();
      return !still;
    },

    async takeAbandonedInFlight(trx, now) {
      const iso = now.toISOString();
      const rows = await trx
        .deleteFrom('send_jobs')
        .where('in_flight_since', 'is not', null)
        .where('lease_expires_at', '<', iso)
        .returning(['message_id', 'connection_id', 'run_at', 'attempts', 'in_flight_since'])
        .execute();
      return rows.map(toJob);
    },

    async depth() {
      const r = await db
        .selectFrom('send_jobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}
