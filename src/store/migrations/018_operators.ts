import { sql, type Kysely } from 'kysely';

/**
 * Operators: people (users) who are members of workspaces with a role, their invitations and
 * server-side sessions, and one table of short-lived sign-in grants (OIDC logins in flight,
 * one-time sign-in links, CLI authorization codes), each stored by the SHA-256 of its secret.
 * API keys trade `can_send` for scopes: a key that could send had full power (`admin`); one that
 * could not is `read` + `manage`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_sign_in_at', 'text')
    .execute();
  await db.schema
    .createTable('members')
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    // `invitation`, `owner` (made at init) or `idp` (from the provider's claim, kept in step at each sign-in).
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('members_pk', ['workspace_id', 'user_id'])
    .execute();
  await db.schema.createIndex('members_by_user').on('members').column('user_id').execute();
  await db.schema
    .createTable('invitations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('invited_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('accepted_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();
  await db.schema.createIndex('invitations_by_email').on('invitations').column('email').execute();
  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('csrf_token', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('idle_seconds', 'integer', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addColumn('ended_reason', 'text')
    .execute();
  await db.schema.createIndex('sessions_by_user').on('sessions').column('user_id').execute();
  await db.schema
    .createTable('sign_in_grants')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute();
  await db.schema.createIndex('sign_in_grants_expiry').on('sign_in_grants').column('expires_at').execute();

  await db.schema
    .alterTable('api_keys')
    .addColumn('scopes', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  await db.schema.alterTable('api_keys').addColumn('connection_ids', 'text').execute();
  await sql`update api_keys set scopes = case when can_send = 0 then '["read","manage"]' else '["admin"]' end`.execute(
    db,
  );
  await db.schema.alterTable('api_keys').dropColumn('can_send').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('api_keys')
    .addColumn('can_send', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await sql`update api_keys set can_send = case when scopes like '%"send"%' or scopes like '%"admin"%' then 1 else 0 end`.execute(
    db,
  );
  await db.schema.alterTable('api_keys').dropColumn('connection_ids').execute();
  await db.schema.alterTable('api_keys').dropColumn('scopes').execute();
  for (const t of ['sign_in_grants', 'sessions', 'invitations', 'members', 'users'])
    await db.schema.dropTable(t).execute();
}
