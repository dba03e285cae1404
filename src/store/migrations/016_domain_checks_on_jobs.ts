import { sql, type Kysely } from 'kysely';

/**
 * Domain re-checks move onto the one job queue: each domain still waiting for a check becomes a
 * `domain_check` job at the same time (grouped by its connection), and the job's time is the
 * "next check" shown, so the domains table no longer keeps its own copy.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    INSERT INTO jobs (queue, id, group_key, run_at, attempts, lease_owner, lease_expires_at, in_flight_since)
    SELECT 'domain_check', id, connection_id, next_check_at, 0, NULL, NULL, NULL
    FROM domains
    WHERE next_check_at IS NOT NULL
  `.execute(db);
  await db.schema.dropIndex('domains_due').execute();
  await db.schema.alterTable('domains').dropColumn('next_check_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('domains').addColumn('next_check_at', 'text').execute();
  await sql`
    UPDATE domains SET next_check_at =
      (SELECT run_at FROM jobs WHERE jobs.queue = 'domain_check' AND jobs.id = domains.id)
  `.execute(db);
  await sql`DELETE FROM jobs WHERE queue = 'domain_check'`.execute(db);
  await db.schema.createIndex('domains_due').on('domains').columns(['next_check_at']).execute();
}
