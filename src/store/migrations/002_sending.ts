import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('api_key_id', 'text')
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('api'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('from_address', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('recipients', 'text', (c) => c.notNull()) // JSON {to,cc,bcc}
    .addColumn('recipient_count', 'integer', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('payload', 'text', (c) => c.notNull()) // JSON of the validated message, attachments included
    .addColumn('size_bytes', 'integer', (c) => c.notNull())
    .addColumn('scheduled_at', 'text')
    .addColumn('ses_message_id', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error_code', 'text')
    .addColumn('last_error_message', 'text')
    .addColumn('last_error_hint', 'text')
    .addColumn('suppressed', 'text') // JSON [{email, reason}] when status is suppressed
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .execute();
  await db.schema.createIndex('messages_ws_created').on('messages').columns(['workspace_id', 'id']).execute();
  await db.schema.createIndex('messages_ws_status').on('messages').columns(['workspace_id', 'status', 'id']).execute();

  await db.schema
    .createTable('message_recipients')
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('message_recipients_pk', ['message_id', 'email'])
    .execute();
  await db.schema
    .createIndex('message_recipients_ws_email')
    .on('message_recipients')
    .columns(['workspace_id', 'email', 'message_id'])
    .execute();

  await db.schema
    .createTable('message_tags')
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('tag', 'text', (c) => c.notNull()) // name=value
    .addPrimaryKeyConstraint('message_tags_pk', ['message_id', 'tag'])
    .execute();
  await db.schema
    .createIndex('message_tags_ws_tag')
    .on('message_tags')
    .columns(['workspace_id', 'tag', 'message_id'])
    .execute();

  await db.schema
    .createTable('send_jobs')
    .addColumn('message_id', 'text', (c) => c.primaryKey().references('messages.id').onDelete('cascade'))
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('run_at', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'text')
    .addColumn('in_flight_since', 'text') // set just before the SES call, cleared after its outcome is stored
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('send_jobs_due').on('send_jobs').columns(['run_at']).execute();

  await db.schema
    .createTable('idempotency_keys')
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('response', 'text', (c) => c.notNull()) // JSON: status + body
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['workspace_id', 'key'])
    .execute();

  await db.schema
    .createTable('suppressions')
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('suppressions_pk', ['workspace_id', 'email'])
    .execute();

  await db.schema.alterTable('connections').addColumn('paused_reason', 'text').execute();
  await db.schema.alterTable('connections').addColumn('paused_at', 'text').execute();
  await db.schema.alterTable('connections').addColumn('configuration_set', 'text').execute();
  await db.schema.alterTable('workspaces').addColumn('default_connection_id', 'text').execute();
  await db.schema
    .alterTable('api_keys')
    .addColumn('can_send', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['suppressions', 'idempotency_keys', 'send_jobs', 'message_tags', 'message_recipients', 'messages'])
    await db.schema.dropTable(t).execute();
}
