import type { Kysely } from 'kysely';

/**
 * The pg-boss send queue's own index of jobs by message. pg-boss knows jobs only by its own id and
 * has no notion of who holds a lease or of "in flight": this row carries both, and is written in
 * the same transaction as the pg-boss job and the message row. Created on SQLite too (it stays
 * empty there) so both dialects share one migration list.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('send_jobs_pgboss')
    .addColumn('message_id', 'text', (c) => c.primaryKey().references('messages.id').onDelete('cascade'))
    .addColumn('job_id', 'text', (c) => c.notNull()) // the current pg-boss job (a retry sends a new one)
    .addColumn('connection_id', 'text', (c) => c.notNull()) // also names the pg-boss queue
    .addColumn('run_at', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'text')
    .addColumn('in_flight_since', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('send_jobs_pgboss_job').on('send_jobs_pgboss').column('job_id').unique().execute();
  await db.schema.createIndex('send_jobs_pgboss_due').on('send_jobs_pgboss').columns(['run_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('send_jobs_pgboss').execute();
}
