import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('workspaces')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('last4', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();
  await db.schema.createIndex('api_keys_workspace').on('api_keys').column('workspace_id').execute();

  await db.schema
    .createTable('connections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('region', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text')
    .addColumn('role_arn', 'text')
    .addColumn('role_arn_set_at', 'text')
    .addColumn('role_name', 'text')
    .addColumn('send_domains', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('session_duration_seconds', 'integer')
    .addColumn('source_identity', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('access_key_id', 'text')
    .addColumn('secret_ciphertext', 'text')
    .addColumn('access_key_created_at', 'text')
    .addColumn('pending_access_key_id', 'text')
    .addColumn('pending_secret_ciphertext', 'text')
    .addColumn('secret_arn', 'text')
    .addColumn('last_assumed_at', 'text')
    .addColumn('credentials_expire_at', 'text')
    .addColumn('assumed_role_id', 'text')
    .addColumn('last_error_code', 'text')
    .addColumn('last_error_message', 'text')
    .addColumn('last_error_at', 'text')
    .addColumn('last_tested_at', 'text')
    .addColumn('last_test_status', 'text')
    .addColumn('external_id_rotated_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('connections_workspace_name', ['workspace_id', 'name'])
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text')
    .addColumn('connection_id', 'text')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_workspace_time').on('audit_log').columns(['workspace_id', 'created_at']).execute();
  await db.schema
    .createIndex('audit_connection_time')
    .on('audit_log')
    .columns(['connection_id', 'created_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['audit_log', 'connections', 'api_keys', 'workspaces']) await db.schema.dropTable(t).execute();
}
