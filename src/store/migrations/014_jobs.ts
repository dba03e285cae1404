import { sql, type Kysely } from 'kysely';

/**
 * One table for every background job (sends, webhook deliveries, domain re-checks) on every
 * backend. Leasing reads the due index; recovery reads only in-flight rows (partial index), so
 * neither scans a backlog as it grows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('jobs')
    .addColumn('queue', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('group_key', 'text', (c) => c.notNull())
    .addColumn('run_at', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'text')
    .addColumn('in_flight_since', 'text')
    .addPrimaryKeyConstraint('jobs_pk', ['queue', 'id'])
    .execute();
  await db.schema
    .createIndex('jobs_due')
    .on('jobs')
    .columns(['queue', 'run_at', 'id'])
    .where(sql.ref('in_flight_since'), 'is', null)
    .execute();
  await db.schema
    .createIndex('jobs_in_flight')
    .on('jobs')
    .columns(['queue', 'lease_expires_at'])
    .where(sql.ref('in_flight_since'), 'is not', null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('jobs').execute();
}
