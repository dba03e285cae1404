import type { Kysely } from 'kysely';

/** The reputation guard reads a connection's latest sends after every bounce and complaint. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('messages_connection_sent')
    .on('messages')
    .columns(['connection_id', 'sent_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_connection_sent').execute();
}
