import { sql, type Kysely } from 'kysely';

/**
 * Webhook deliveries move onto the one job queue: a job (queue `webhook`, id = delivery id, group
 * = webhook id) for every pending delivery, due when the delivery was. The delivery's own retry
 * time, which also served as its lease, goes: the queue's run time and lease replace it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    insert into jobs (queue, id, group_key, run_at, attempts, lease_owner, lease_expires_at, in_flight_since)
    select 'webhook', id, webhook_id, next_attempt_at, attempts, null, null, null
    from webhook_deliveries
    where status = 'pending'
  `.execute(db);
  await db.schema.dropIndex('webhook_deliveries_due').execute();
  await db.schema.alterTable('webhook_deliveries').dropColumn('next_attempt_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('webhook_deliveries')
    .addColumn('next_attempt_at', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await sql`
    update webhook_deliveries
    set next_attempt_at = coalesce(
      (select run_at from jobs where jobs.queue = 'webhook' and jobs.id = webhook_deliveries.id),
      created_at
    )
  `.execute(db);
  await sql`delete from jobs where queue = 'webhook'`.execute(db);
  await db.schema
    .createIndex('webhook_deliveries_due')
    .on('webhook_deliveries')
    .columns(['status', 'next_attempt_at'])
    .execute();
}
