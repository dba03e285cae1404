import type { Kysely } from 'kysely';

/**
 * The master key check value: one row holding a known text sealed under the master key, so a start
 * with a missing or different key is refused before any stored secret is used.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('master_key_check')
    .addColumn('id', 'text', (c) => c.primaryKey()) // always 'master': one key per database
    .addColumn('key_id', 'text', (c) => c.notNull()) // fingerprint of the key, for messages
    .addColumn('check_value', 'text', (c) => c.notNull()) // envelope (JSON)
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('master_key_check').execute();
}
