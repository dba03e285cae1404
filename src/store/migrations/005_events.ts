import type { Kysely } from 'kysely';

/** SNS notifications as received, and the events they carry per message (the timeline). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sns_messages')
    .addColumn('id', 'text', (c) => c.primaryKey()) // SNS MessageId: a replay is a duplicate key
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('topic_arn', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('processed_at', 'text')
    .addColumn('outcome', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('sns_messages_pending')
    .on('sns_messages')
    .columns(['processed_at', 'next_attempt_at'])
    .execute();

  await db.schema
    .createTable('message_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text') // null: an event for a message Sesame does not know (kept, not dropped)
    .addColumn('ses_message_id', 'text', (c) => c.notNull())
    .addColumn('sns_message_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'text', (c) => c.notNull())
    .addColumn('recipients', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('message_events_once', ['sns_message_id', 'kind'])
    .execute();
  await db.schema
    .createIndex('message_events_message')
    .on('message_events')
    .columns(['message_id', 'occurred_at'])
    .execute();
  await db.schema.createIndex('message_events_ses').on('message_events').columns(['ses_message_id']).execute();
  await db.schema.createIndex('messages_ses_id').on('messages').column('ses_message_id').execute();

  await db.schema
    .alterTable('connections')
    .addColumn('sns_topic_arns', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('message_events').execute();
  await db.schema.dropTable('sns_messages').execute();
}
