import type { Kysely } from 'kysely';

/**
 * SNS deliveries refused per connection, counted per hour and error code (never the body), so a
 * person can see why events stopped. Rows older than a day are pruned.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sns_refusals')
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('hour', 'text', (c) => c.notNull()) // YYYY-MM-DDTHH, UTC
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('refused', 'integer', (c) => c.notNull())
    .addColumn('last_at', 'text', (c) => c.notNull())
    .addColumn('last_topic', 'text') // the TopicArn the last one named, when it named one
    .addPrimaryKeyConstraint('sns_refusals_pk', ['connection_id', 'hour', 'code'])
    .execute();
  await db.schema.createIndex('sns_refusals_hour').on('sns_refusals').column('hour').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('sns_refusals').execute();
}
