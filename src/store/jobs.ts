import { sql } from 'kysely';
import type { Job, JobQueue, QueueName } from '../queue/job-queue.js';
import type { Dialect, Executor } from './db.js';

type JobRow = {
  queue: string;
  id: string;
  group_key: string;
  run_at: string;
  attempts: number;
  in_flight_since: string | null;
};

const toJob = (r: JobRow): Job => ({
  queue: r.queue as QueueName,
  id: r.id,
  group: r.group_key,
  runAt: r.run_at,
  attempts: r.attempts,
  inFlightSince: r.in_flight_since,
});

const RETURNED = ['queue', 'id', 'group_key', 'run_at', 'attempts', 'in_flight_since'] as const;

/**
 * The jobs table: the one queue of every background job, the only writer of `jobs`. Decisions use
 * the `now` the caller passes (the injected clock), never the database's clock, so tests move time
 * freely and every backend agrees on what is due.
 */
export function createJobs(db: Executor, dialect: Dialect): JobQueue {
  return {
    async enqueue(queue, job) {
      await db
        .insertInto('jobs')
        .values({
          queue,
          id: job.id,
          group_key: job.group,
          run_at: job.runAt,
          attempts: 0,
          lease_owner: null,
          lease_expires_at: null,
          in_flight_since: null,
        })
        .onConflict((oc) => oc.columns(['queue', 'id']).doNothing())
        .execute();
    },

    async schedule(queue, job) {
      await db
        .insertInto('jobs')
        .values({
          queue,
          id: job.id,
          group_key: job.group,
          run_at: job.runAt,
          attempts: 0,
          lease_owner: null,
          lease_expires_at: null,
          in_flight_since: null,
        })
        .onConflict((oc) =>
          oc
            .columns(['queue', 'id'])
            .doUpdateSet({ run_at: job.runAt, lease_owner: null, lease_expires_at: null })
            .where('jobs.in_flight_since', 'is', null),
        )
        .execute();
    },

    async lease(queue, { owner, limit, now, leaseMs, skipGroups = [] }) {
      const iso = now.toISOString();
      const until = new Date(now.getTime() + leaseMs).toISOString();
      let due = db
        .selectFrom('jobs')
        .select('id')
        .where('queue', '=', queue)
        .where('in_flight_since', 'is', null)
        .where('run_at', '<=', iso)
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', iso)]))
        // Jobs due at the same time go in the order they were made: ids are time-ordered.
        .orderBy('run_at')
        .orderBy('id')
        .limit(limit);
      if (skipGroups.length) due = due.where('group_key', 'not in', [...skipGroups]);
      // PostgreSQL: concurrent workers skip each other's rows instead of waiting on them.
      if (dialect === 'postgres') due = due.forUpdate().skipLocked();
      const rows = await db
        .updateTable('jobs')
        .set({ lease_owner: owner, lease_expires_at: until })
        .where('queue', '=', queue)
        .where('id', 'in', due)
        .returning(RETURNED)
        .execute();
      return rows.map(toJob).sort((a, b) => cmp(a.runAt, b.runAt) || cmp(a.id, b.id));
    },

    async claim(queue, id, owner, now, leaseMs) {
      const iso = now.toISOString();
      const res = await db
        .updateTable('jobs')
        // A fresh lease for the work itself, so a slow answer is not taken for a dead worker.
        .set({ in_flight_since: iso, lease_expires_at: new Date(now.getTime() + leaseMs).toISOString() })
        .where('queue', '=', queue)
        .where('id', '=', id)
        .where('lease_owner', '=', owner)
        .where('lease_expires_at', '>', iso)
        .where('in_flight_since', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },

    async finish(queue, id) {
      await db.deleteFrom('jobs').where('queue', '=', queue).where('id', '=', id).execute();
    },

    async retryAt(queue, id, runAt, countAttempt) {
      await db
        .updateTable('jobs')
        .set({
          run_at: runAt.toISOString(),
          lease_owner: null,
          lease_expires_at: null,
          in_flight_since: null,
          ...(countAttempt ? { attempts: sql<number>`attempts + 1` } : {}),
        })
        .where('queue', '=', queue)
        .where('id', '=', id)
        .execute();
    },

    async cancel(queue, id, now) {
      const res = await db
        .deleteFrom('jobs')
        .where('queue', '=', queue)
        .where('id', '=', id)
        .where((eb) => eb.or([eb('in_flight_since', 'is', null), eb('lease_expires_at', '<', now.toISOString())]))
        .executeTakeFirst();
      if (Number(res.numDeletedRows) > 0) return true;
      const still = await db
        .selectFrom('jobs')
        .select('id')
        .where('queue', '=', queue)
        .where('id', '=', id)
        .executeTakeFirst();
      return !still;
    },

    async takeAbandoned(queue, now) {
      // Served by the partial index on in-flight jobs: only those rows are looked at.
      const rows = await db
        .deleteFrom('jobs')
        .where('queue', '=', queue)
        .where('in_flight_since', 'is not', null)
        .where('lease_expires_at', '<', now.toISOString())
        .returning(RETURNED)
        .execute();
      return rows.map(toJob);
    },

    async depth(queue) {
      const r = await db
        .selectFrom('jobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('queue', '=', queue)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },

    async nextDue(queue) {
      const r = await db
        .selectFrom('jobs')
        .select('run_at')
        .where('queue', '=', queue)
        .where('in_flight_since', 'is', null)
        .orderBy('run_at')
        .limit(1)
        .executeTakeFirst();
      return r?.run_at ?? null;
    },
  };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
