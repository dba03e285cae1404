import { randomUUID } from 'node:crypto';
import { CompiledQuery, type Kysely } from 'kysely';
import PgBoss from 'pg-boss';
import type { Db } from '../store/db.js';
import type { Database, SendJobTable } from '../store/schema.js';
import type { Executor, SendJob, SendQueue } from './send-queue.js';

/**
 * The send queue on PostgreSQL, with pg-boss 10 doing the scheduling (start-after), the leasing
 * (fetch, FOR UPDATE SKIP LOCKED), lease expiry (expire_in + its maintenance) and the re-runs.
 *
 * Why a side table (`send_jobs_pgboss`, migration 003) next to pg-boss's own job table:
 *  - pg-boss finds jobs by its own id; every call here is by message id. The side row maps one to
 *    the other. The pg-boss job id is chosen once per side row and kept across retries (a retry
 *    re-sends the job under the same id), so the mapping never goes stale.
 *  - pg-boss has no lease owner and no "in flight". The worker needs both: claimForSend must fail
 *    when another worker took the job over, and a job handed to SES must never be handed out again
 *    (at most once). The side row carries owner, lease end and in-flight time; claiming completes
 *    the pg-boss job in the caller's transaction, so pg-boss can neither expire nor re-deliver it,
 *    and the side row alone says "in flight" until finish/retryAt/takeAbandonedInFlight.
 *  - Everything (side row, pg-boss job, message row) is written through the caller's Kysely
 *    transaction: pg-boss accepts an executor (`{ db }` option) and gets one over that transaction.
 *
 * Why one pg-boss queue per connection (`sesame-send.<connectionId>`): a paused connection may have
 * thousands of queued jobs. With one shared queue, fetch would keep returning them first (fetch
 * cannot filter by data), and putting them back would churn and starve everyone else. With a queue
 * per connection, skipping a connection is simply not fetching from its queue. How many jobs to
 * fetch from which queue comes from the side table (the `limit` longest-due rows), so a lease hands
 * out the longest-due jobs across connections as the table queue does, and idle connections cost
 * nothing.
 *
 * Clocks: due-ness and lease expiry as seen by pg-boss use the database clock (`start_after <
 * now()`, `started_on + expire_in < now()`); owner and lease checks in the side table use the `now`
 * the caller passes, like the table queue. The side lease ends at caller-now + leaseMs, before
 * pg-boss's (ceil to whole seconds, counted from the later started_on), so with synced clocks a
 * worker stops trusting its lease before pg-boss hands the job to someone else.
 *
 * Row locks are taken pg-boss job first, side row second (fetch does so, and so do claim, finish,
 * retryAt and cancel), so a lease racing a claim or a cancel waits instead of deadlocking. The one
 * exception, takeAbandonedInFlight, only touches completed jobs, which no fetch can take.
 */
export interface PgBossSendQueueDeps {
  db: Db;
  connectionString: string;
  /** pg-boss's schema (default `pgboss`); tests use their own. */
  schema?: string;
  /** Background maintenance (archive, purge, and a backstop for lease expiry). Default 60 s. */
  maintenanceIntervalSeconds?: number;
  /** pg-boss's own pool, used for queue creation and maintenance only. Default 2. */
  poolSize?: number;
  /** pg-boss reports maintenance failures as events; without a listener they would crash the process. */
  onError?: (err: Error) => void;
}

export type PgBossSendQueue = SendQueue & { stop(): Promise<void> };

interface SideTable extends SendJobTable {
  job_id: string;
}
type SideDb = Database & { send_jobs_pgboss: SideTable };

const QUEUE_PREFIX = 'sesame-send.';
/** A lease that pg-boss expires goes back to `retry`; it must never run out of retries and turn `failed`. */
const RETRY_FOREVER = 2_000_000_000;
/** A queued job must outlive any pause or quota deferral; pg-boss archives queued jobs past keep_until. */
const RETENTION_DAYS = 3650;
/** Placeholder expiry until a lease sets the real one. */
const DEFAULT_EXPIRE_SECONDS = 60;
/** pg-boss orders a fetch by priority, then creation; priority carries the due second so a fetch
 * hands out the longest-due job first, as the table queue does (int4: good until 2092). */
const PRIORITY_EPOCH = Date.parse('2024-01-01T00:00:00Z');

const queueName = (connectionId: string) => `${QUEUE_PREFIX}${connectionId}`;
const priorityFor = (runAt: Date) =>
  -Math.max(0, Math.min(2_000_000_000, Math.floor((runAt.getTime() - PRIORITY_EPOCH) / 1000)));

const side = (e: Executor): Kysely<SideDb> => e.withTables<{ send_jobs_pgboss: SideTable }>();

/** pg-boss's executor over a Kysely connection or transaction. */
const bossDb = (e: Executor): PgBoss.Db => ({
  executeSql: async (text, values) => {
    const r = await e.executeQuery(CompiledQuery.raw(text, values ?? []));
    // pg-boss types its rows as any[]; the cast names that contract.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { rows: r.rows as unknown[] as any[] };
  },
});

const toJob = (
  r: Pick<SideTable, 'message_id' | 'connection_id' | 'run_at' | 'attempts' | 'in_flight_since'>,
): SendJob => ({
  messageId: r.message_id,
  connectionId: r.connection_id,
  runAt: r.run_at,
  attempts: r.attempts,
  inFlightSince: r.in_flight_since,
});

const byRunAt = (a: SendJob, b: SendJob) => (a.runAt < b.runAt ? -1 : a.runAt > b.runAt ? 1 : 0);

export async function createPgBossSendQueue(deps: PgBossSendQueueDeps): Promise<PgBossSendQueue> {
  const { db } = deps;
  const schema = deps.schema ?? 'pgboss';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,49}$/.test(schema)) throw new Error(`invalid pg-boss schema name: ${schema}`);

  const boss = new PgBoss({
    connectionString: deps.connectionString,
    schema,
    application_name: 'sesame-pgboss',
    max: deps.poolSize ?? 2,
    migrate: true,
    // Maintenance only: no cron (schedule: false also skips the clock-skew monitor and its queue).
    supervise: true,
    schedule: false,
    maintenanceIntervalSeconds: deps.maintenanceIntervalSeconds ?? 60,
  });
  boss.on('error', (err: Error) => (deps.onError ?? ((e: Error) => process.emitWarning(`pg-boss: ${e.message}`)))(err));
  await boss.start();

  const known = new Set<string>();
  async function ensureQueue(name: string): Promise<void> {
    if (known.has(name)) return;
    // Committed on pg-boss's own pool, outside the caller's transaction: an empty queue left by a
    // rolled-back enqueue is harmless, and creating a partition inside a user's transaction would
    // hold DDL locks for its whole length. create_queue is idempotent.
    await boss.createQueue(name, { name, policy: 'standard' });
    known.add(name);
  }

  const sendOptions = (trx: Executor, id: string, runAt: Date): PgBoss.SendOptions => ({
    db: bossDb(trx),
    id,
    startAfter: runAt.toISOString(),
    priority: priorityFor(runAt),
    retryLimit: RETRY_FOREVER,
    retryDelay: 0,
    retryBackoff: false,
    expireInSeconds: DEFAULT_EXPIRE_SECONDS,
    retentionDays: RETENTION_DAYS,
  });

  async function sendJob(
    trx: Executor,
    connectionId: string,
    messageId: string,
    id: string,
    runAt: Date,
  ): Promise<void> {
    const sent = await boss.send(queueName(connectionId), { messageId }, sendOptions(trx, id, runAt));
    if (sent !== id) throw new Error(`pg-boss did not accept the send job for message ${messageId}`);
  }

  let lastExpire = 0;

  const queue: PgBossSendQueue = {
    async enqueue(trx, job) {
      const name = queueName(job.connectionId);
      await ensureQueue(name);
      const id = randomUUID();
      await sendJob(trx, job.connectionId, job.messageId, id, new Date(job.runAt));
      await side(trx)
        .insertInto('send_jobs_pgboss')
        .values({
          message_id: job.messageId,
          job_id: id,
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
      if (limit <= 0) return [];
      const iso = now.toISOString();
      const until = new Date(now.getTime() + leaseMs).toISOString();
      const expireSeconds = Math.max(1, Math.ceil(leaseMs / 1000));

      // The `limit` longest-due jobs, to learn how many to fetch from which connection's queue, in
      // due order (one indexed query; idle connections cost nothing). A hint only: fetch decides.
      let hint = side(db)
        .selectFrom('send_jobs_pgboss')
        .select(['connection_id', 'lease_expires_at'])
        .where('run_at', '<=', iso)
        .where('in_flight_since', 'is', null)
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', iso)]))
        .orderBy('run_at')
        .limit(limit);
      if (skipConnections.length) hint = hint.where('connection_id', 'not in', [...skipConnections]);
      const due = await hint.execute();
      if (!due.length) return [];
      const wanted = new Map<string, number>();
      for (const r of due) wanted.set(r.connection_id, (wanted.get(r.connection_id) ?? 0) + 1);

      // Leases have lapsed (a worker died or stalled): let pg-boss expire them now rather than at
      // its next maintenance round. At most once a second per process; maintenance is the backstop.
      if (due.some((r) => r.lease_expires_at !== null) && Date.now() - lastExpire >= 1000) {
        lastExpire = Date.now();
        await boss.expire();
      }

      const out: SendJob[] = [];
      await db.transaction().execute(async (trx) => {
        const exec = bossDb(trx);
        for (const [connectionId, count] of wanted) {
          const name = queueName(connectionId);
          for (let need = count; need > 0;) {
            const jobs = await boss.fetch<{ messageId: string }>(name, { batchSize: need, db: exec });
            if (!jobs.length) break;
            const ids = jobs.map((j) => j.id);
            // pg-boss fixes expire_in when a job is sent; the lease length is only known now.
            await exec.executeSql(
              `UPDATE ${schema}.job SET expire_in = $3::int * interval '1 second' WHERE name = $1 AND id = ANY($2::uuid[])`,
              [name, ids, expireSeconds],
            );
            const rows = await side(trx)
              .updateTable('send_jobs_pgboss')
              .set({ lease_owner: owner, lease_expires_at: until })
              .where('job_id', 'in', ids)
              .returning(['message_id', 'job_id', 'connection_id', 'run_at', 'attempts', 'in_flight_since'])
              .execute();
            out.push(...rows.map(toJob));
            need -= rows.length;
            // A pg-boss job without a side row lost its message (deleted with its workspace): drop
            // it, and fetch again for the slot it took.
            const orphans = ids.filter((id) => !rows.some((r) => r.job_id === id));
            if (!orphans.length) break;
            await boss.deleteJob(name, orphans, { db: exec });
          }
        }
      });
      return out.sort(byRunAt);
    },

    async claimForSend(trx, messageId, owner, now, leaseMs) {
      const iso = now.toISOString();
      const row = await side(trx)
        .selectFrom('send_jobs_pgboss')
        .select(['job_id', 'connection_id'])
        .where('message_id', '=', messageId)
        .executeTakeFirst();
      if (!row) return false;
      const name = queueName(row.connection_id);
      const exec = bossDb(trx);
      // Lock the pg-boss job first (the order fetch uses). Not active: pg-boss expired the lease.
      const locked = await exec.executeSql(
        `SELECT 1 FROM ${schema}.job WHERE name = $1 AND id = $2::uuid AND state = 'active' FOR UPDATE`,
        [name, row.job_id],
      );
      if (locked.rows.length !== 1) return false;
      const res = await side(trx)
        .updateTable('send_jobs_pgboss')
        // A fresh lease for the send itself, so a slow answer is not taken for a dead worker.
        .set({
          in_flight_since: iso,
          ...(leaseMs ? { lease_expires_at: new Date(now.getTime() + leaseMs).toISOString() } : {}),
        })
        .where('message_id', '=', messageId)
        .where('job_id', '=', row.job_id)
        .where('lease_owner', '=', owner)
        .where('lease_expires_at', '>', iso)
        .where('in_flight_since', 'is', null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      // Completed, pg-boss will neither expire nor hand it out again; the side row says "in flight".
      await boss.complete(name, row.job_id, { inFlightSince: iso, owner }, { db: exec });
      return true;
    },

    async finish(trx, messageId) {
      const row = await side(trx)
        .selectFrom('send_jobs_pgboss')
        .select(['job_id', 'connection_id'])
        .where('message_id', '=', messageId)
        .executeTakeFirst();
      if (!row) return;
      await boss.deleteJob(queueName(row.connection_id), row.job_id, { db: bossDb(trx) });
      await side(trx).deleteFrom('send_jobs_pgboss').where('message_id', '=', messageId).execute();
    },

    async retryAt(messageId, runAt, countAttempt) {
      await db.transaction().execute(async (trx) => {
        const row = await side(trx)
          .selectFrom('send_jobs_pgboss')
          .select(['job_id', 'connection_id'])
          .where('message_id', '=', messageId)
          .executeTakeFirst();
        if (!row) return;
        const name = queueName(row.connection_id);
        await ensureQueue(name);
        // A new run of the same pg-boss job id, starting at runAt; lease and in-flight are cleared.
        await boss.deleteJob(name, row.job_id, { db: bossDb(trx) });
        await sendJob(trx, row.connection_id, messageId, row.job_id, runAt);
        const res = await side(trx)
          .updateTable('send_jobs_pgboss')
          .set((eb) => ({
            run_at: runAt.toISOString(),
            lease_owner: null,
            lease_expires_at: null,
            in_flight_since: null,
            ...(countAttempt ? { attempts: eb('attempts', '+', 1) } : {}),
          }))
          .where('message_id', '=', messageId)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) await boss.deleteJob(name, row.job_id, { db: bossDb(trx) });
      });
    },

    async cancel(trx, messageId, now) {
      const iso = now.toISOString();
      const row = await side(trx)
        .selectFrom('send_jobs_pgboss')
        .select(['job_id', 'connection_id', 'in_flight_since', 'lease_expires_at'])
        .where('message_id', '=', messageId)
        .executeTakeFirst();
      if (!row) return true;
      const inFlight = (r: { in_flight_since: string | null; lease_expires_at: string | null }) =>
        r.in_flight_since !== null && !(r.lease_expires_at !== null && r.lease_expires_at < iso);
      if (inFlight(row)) return false;
      // Job row first. If the job went in flight meanwhile, its pg-boss job was already completed and
      // is no longer needed, so deleting it changes nothing; the side row below stays and we say no.
      await boss.deleteJob(queueName(row.connection_id), row.job_id, { db: bossDb(trx) });
      const res = await side(trx)
        .deleteFrom('send_jobs_pgboss')
        .where('message_id', '=', messageId)
        .where((eb) => eb.or([eb('in_flight_since', 'is', null), eb('lease_expires_at', '<', iso)]))
        .executeTakeFirst();
      if (Number(res.numDeletedRows) > 0) return true;
      const still = await side(trx)
        .selectFrom('send_jobs_pgboss')
        .select('message_id')
        .where('message_id', '=', messageId)
        .executeTakeFirst();
      return !still;
    },

    async takeAbandonedInFlight(trx, now) {
      const rows = await side(trx)
        .deleteFrom('send_jobs_pgboss')
        .where('in_flight_since', 'is not', null)
        .where('lease_expires_at', '<', now.toISOString())
        .returning(['message_id', 'job_id', 'connection_id', 'run_at', 'attempts', 'in_flight_since'])
        .execute();
      // Their pg-boss jobs were completed when claimed; drop them rather than wait for archiving.
      const byQueue = new Map<string, string[]>();
      for (const r of rows)
        byQueue.set(queueName(r.connection_id), [...(byQueue.get(queueName(r.connection_id)) ?? []), r.job_id]);
      for (const [name, ids] of byQueue) await boss.deleteJob(name, ids, { db: bossDb(trx) });
      return rows.map(toJob);
    },

    async depth() {
      const r = await side(db)
        .selectFrom('send_jobs_pgboss')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },

    async stop() {
      await boss.stop({ graceful: false, close: true });
    },
  };
  return queue;
}
