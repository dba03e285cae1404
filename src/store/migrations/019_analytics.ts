import { type Kysely, SqliteAdapter, sql } from 'kysely';

/**
 * Analytics: counts per workspace, connection, UTC hour and kind, kept up to date in the
 * transactions that write messages, send outcomes and SES events, so a year of history is read
 * from a few hundred thousand small rows instead of millions of messages. The quota each
 * connection's SES account last reported is kept beside them.
 *
 * The counts are filled from the history already stored, with the same rules the writers follow:
 * accepted and suppressed at the message's creation, sent at its send time, failed at its last
 * change, SES events at the time SES says they happened.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  await db.schema
    .createTable('analytics_hourly')
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('hour', 'text', (c) => c.notNull()) // YYYY-MM-DDTHH, UTC
    .addColumn('connection_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('count', 'bigint', (c) => c.notNull())
    // The key is the query's path: one workspace, a range of hours. On SQLite the table is that
    // index itself (no rowid), so a range read touches nothing else.
    .addPrimaryKeyConstraint('analytics_hourly_pk', ['workspace_id', 'hour', 'connection_id', 'kind'])
    .$call((b) => (sqlite ? b.modifyEnd(sql`without rowid`) : b))
    .execute();

  await db.schema
    .createTable('connection_quotas')
    .addColumn('connection_id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('max_send_rate', 'double precision', (c) => c.notNull())
    .addColumn('max_24_hour_send', 'double precision', (c) => c.notNull())
    .addColumn('sent_last_24_hours', 'double precision', (c) => c.notNull())
    .addColumn('read_at', 'text', (c) => c.notNull())
    .execute();

  const fill = (select: ReturnType<typeof sql>) =>
    sql`insert into analytics_hourly (workspace_id, connection_id, hour, kind, count) ${select}`.execute(db);
  const hourOf = (col: string) => sql`substr(${sql.ref(col)}, 1, 13)`;
  await fill(sql`
    select workspace_id, connection_id, ${hourOf('created_at')}, 'accepted', count(*)
    from messages group by workspace_id, connection_id, ${hourOf('created_at')}`);
  await fill(sql`
    select workspace_id, connection_id, ${hourOf('created_at')}, 'suppressed', count(*)
    from messages where status = 'suppressed' group by workspace_id, connection_id, ${hourOf('created_at')}`);
  await fill(sql`
    select workspace_id, connection_id, ${hourOf('sent_at')}, 'sent', count(*)
    from messages where sent_at is not null group by workspace_id, connection_id, ${hourOf('sent_at')}`);
  await fill(sql`
    select workspace_id, connection_id, ${hourOf('updated_at')}, 'failed', count(*)
    from messages where status = 'failed' group by workspace_id, connection_id, ${hourOf('updated_at')}`);
  // The same mapping as kindOfEvent() in src/modules/analytics/kinds.ts.
  const kind = sql`case kind
      when 'delivery' then 'delivered'
      when 'bounce' then case
        when details like '%"type":"Permanent"%' then 'bounced_permanent'
        when details like '%"type":"Transient"%' then 'bounced_transient'
        else 'bounced_undetermined' end
      when 'complaint' then 'complained'
      when 'reject' then 'rejected'
      when 'rendering_failure' then 'rejected'
      when 'delivery_delay' then 'delayed'
      when 'open' then 'opened'
      when 'click' then 'clicked'
    end`;
  await fill(sql`
    select workspace_id, connection_id, ${hourOf('occurred_at')}, ${kind}, count(*)
    from message_events
    where kind in ('delivery', 'bounce', 'complaint', 'reject', 'rendering_failure', 'delivery_delay', 'open', 'click')
    group by workspace_id, connection_id, ${hourOf('occurred_at')}, ${kind}`);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('connection_quotas').execute();
  await db.schema.dropTable('analytics_hourly').execute();
}
