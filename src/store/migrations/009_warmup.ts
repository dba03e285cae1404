import type { Kysely } from 'kysely';

/**
 * Warmup plans (a daily volume schedule per connection, or per sending domain of a connection) and
 * the daily counters the workers share to keep to them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('warmup_plans')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('connection_id', 'text', (c) => c.notNull())
    // '' for the whole connection: a plain value, so the unique constraint holds on both dialects.
    .addColumn('domain', 'text', (c) => c.notNull())
    .addColumn('schedule', 'text') // JSON array of daily volumes (custom plan); null for the default ramp
    .addColumn('start_volume', 'integer', (c) => c.notNull())
    .addColumn('doubling_days', 'integer', (c) => c.notNull())
    .addColumn('start_date', 'text', (c) => c.notNull()) // YYYY-MM-DD, UTC
    .addColumn('held_days', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rolled_on', 'text', (c) => c.notNull()) // the UTC day the step was last decided for
    .addColumn('hold_reason', 'text') // why that day's step did not advance
    .addColumn('paused_at', 'text')
    .addColumn('account_quota', 'integer') // SES Max24HourSend as the worker last read it
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('warmup_plans_connection_domain', ['connection_id', 'domain'])
    .execute();

  await db.schema
    .createTable('warmup_usage')
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('domain', 'text', (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull()) // YYYY-MM-DD, UTC
    .addColumn('used', 'integer', (c) => c.notNull()) // recipients sent or being sent that day
    .addPrimaryKeyConstraint('warmup_usage_pk', ['connection_id', 'domain', 'day'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('warmup_usage').execute();
  await db.schema.dropTable('warmup_plans').execute();
}
