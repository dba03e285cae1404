import type { Kysely } from 'kysely';

/** Sending identities (domains and single addresses) a connection manages, with their DNS checks. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('domains')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull()) // example.com, or an address for email identities
    .addColumn('kind', 'text', (c) => c.notNull()) // domain | email
    .addColumn('origin', 'text', (c) => c.notNull()) // created | imported
    .addColumn('status', 'text', (c) => c.notNull()) // pending | verified | failed | temporary_failure
    .addColumn('dkim_origin', 'text', (c) => c.notNull()) // AWS_SES (Easy DKIM) | EXTERNAL (BYODKIM)
    .addColumn('dkim_tokens', 'text', (c) => c.notNull()) // JSON: Easy DKIM tokens, or [selector]
    .addColumn('dkim_public_key', 'text') // BYODKIM: the public key to publish (never the private key)
    .addColumn('dkim_status', 'text', (c) => c.notNull())
    .addColumn('mail_from_domain', 'text')
    .addColumn('mail_from_status', 'text')
    .addColumn('dmarc_rua', 'text')
    .addColumn('checks', 'text', (c) => c.notNull()) // JSON: the last DNS check, per record and domain-wide
    .addColumn('checked_at', 'text')
    .addColumn('check_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_check_at', 'text') // null once verified (or given up)
    .addColumn('verified_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('domains_connection_name', ['connection_id', 'name'])
    .execute();
  await db.schema.createIndex('domains_workspace').on('domains').columns(['workspace_id', 'name']).execute();
  await db.schema.createIndex('domains_due').on('domains').columns(['next_check_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('domains').execute();
}
