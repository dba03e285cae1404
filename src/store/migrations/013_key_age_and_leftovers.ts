import type { Kysely } from 'kysely';

/**
 * The access key's creation date as IAM reports it (access_key_created_at stays the date Sesame
 * first saw the key), and SES identities Sesame created for a domain add that then failed and
 * could not be removed again: adding the domain again takes them back instead of refusing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('connections').addColumn('access_key_aws_created_at', 'text').execute();
  await db.schema
    .createTable('domain_leftovers')
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('domain_leftovers_pk', ['connection_id', 'name'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('domain_leftovers').execute();
  await db.schema.alterTable('connections').dropColumn('access_key_aws_created_at').execute();
}
