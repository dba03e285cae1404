import { type Kysely, PostgresAdapter, sql } from 'kysely';

/**
 * Sends move onto the one jobs table (queue `send`, id = message id, group = connection id) on
 * every backend, and the queues they leave are dropped:
 *  - the SQLite table queue (`send_jobs`): its rows are copied as they are;
 *  - pg-boss (PostgreSQL): its jobs are not read. A message `queued` without a job gets one, due at
 *    its scheduled time or at once; a message `sending` was handed to SES by a worker of the old
 *    version, so it becomes an in-flight job whose lease has run out, which recovery turns into
 *    `send_outcome_unknown` (at most once: it may have reached SES).
 * Expired idempotency keys are deleted through a new index on their expiry.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    insert into jobs (queue, id, group_key, run_at, attempts, lease_owner, lease_expires_at, in_flight_since)
    select 'send', message_id, connection_id, run_at, attempts, lease_owner, lease_expires_at, in_flight_since
    from send_jobs
    where not exists (select 1 from jobs j where j.queue = 'send' and j.id = send_jobs.message_id)
  `.execute(db);
  await sql`
    insert into jobs (queue, id, group_key, run_at, attempts, lease_owner, lease_expires_at, in_flight_since)
    select 'send', m.id, m.connection_id, coalesce(m.scheduled_at, m.updated_at), m.attempts, null, null, null
    from messages m
    where m.status = 'queued'
      and not exists (select 1 from jobs j where j.queue = 'send' and j.id = m.id)
  `.execute(db);
  await sql`
    insert into jobs (queue, id, group_key, run_at, attempts, lease_owner, lease_expires_at, in_flight_since)
    select 'send', m.id, m.connection_id, m.updated_at, case when m.attempts > 0 then m.attempts - 1 else 0 end,
           'migration-015', m.updated_at, m.updated_at
    from messages m
    where m.status = 'sending'
      and not exists (select 1 from jobs j where j.queue = 'send' and j.id = m.id)
  `.execute(db);
  await db.schema.dropTable('send_jobs_pgboss').ifExists().execute();
  await db.schema.dropTable('send_jobs').ifExists().execute();
  if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`drop schema if exists pgboss cascade`.execute(db);
  await db.schema.createIndex('idempotency_keys_expires').on('idempotency_keys').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('idempotency_keys_expires').execute();
  await db.schema
    .createTable('send_jobs')
    .addColumn('message_id', 'text', (c) => c.primaryKey().references('messages.id').onDelete('cascade'))
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('run_at', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'text')
    .addColumn('in_flight_since', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('send_jobs_due').on('send_jobs').columns(['run_at']).execute();
  // Empty, as migration 003 left it before any pg-boss job existed: 003's down drops it.
  await db.schema
    .createTable('send_jobs_pgboss')
    .addColumn('message_id', 'text', (c) => c.primaryKey())
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('run_at', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'text')
    .addColumn('in_flight_since', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await sql`
    insert into send_jobs (message_id, connection_id, run_at, attempts, lease_owner, lease_expires_at, in_flight_since, created_at)
    select j.id, j.group_key, j.run_at, j.attempts, j.lease_owner, j.lease_expires_at, j.in_flight_since, j.run_at
    from jobs j join messages m on m.id = j.id
    where j.queue = 'send'
  `.execute(db);
  await sql`delete from jobs where queue = 'send'`.execute(db);
}
