import { type Kysely, SqliteAdapter, sql } from 'kysely';

/** One column per kind counted (ANALYTICS_KINDS in src/store/analytics.ts). */
const KINDS = [
  'accepted',
  'suppressed',
  'sent',
  'failed',
  'delivered',
  'bounced_permanent',
  'bounced_transient',
  'bounced_undetermined',
  'complained',
  'rejected',
  'delayed',
  'opened',
  'clicked',
] as const;

/**
 * Analytics: counts per workspace, UTC hour and connection, one column per kind, and the same per
 * UTC day, kept up to date in the transactions that write messages, send outcomes and SES events,
 * so a year of history is read from a few thousand rows instead of millions of messages. The quota
 * each connection's SES account last reported is kept beside them.
 *
 * The counts are filled from the history already stored, with the rules the writers follow:
 * accepted and suppressed at the message's creation, sent at its send time, failed at its last
 * change, SES events at the time SES says they happened (kindOfEvent in src/modules/analytics/kinds.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  for (const [table, key] of [
    ['analytics_hourly', 'hour'], // YYYY-MM-DDTHH, UTC
    ['analytics_daily', 'day'], // YYYY-MM-DD, UTC
  ] as const) {
    let t = db.schema
      .createTable(table)
      .addColumn('workspace_id', 'text', (c) => c.notNull())
      .addColumn(key, 'text', (c) => c.notNull())
      .addColumn('connection_id', 'text', (c) => c.notNull());
    for (const k of KINDS) t = t.addColumn(k, 'bigint', (c) => c.notNull().defaultTo(0));
    // The key is the query's path: one workspace, a range of buckets. On SQLite the table is that
    // index itself (no rowid), so a range read touches nothing else.
    await t
      .addPrimaryKeyConstraint(`${table}_pk`, ['workspace_id', key, 'connection_id'])
      .$call((b) => (sqlite ? b.modifyEnd(sql`without rowid`) : b))
      .execute();
  }

  await db.schema
    .createTable('connection_quotas')
    .addColumn('connection_id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('max_send_rate', 'double precision', (c) => c.notNull())
    .addColumn('max_24_hour_send', 'double precision', (c) => c.notNull())
    .addColumn('sent_last_24_hours', 'double precision', (c) => c.notNull())
    .addColumn('read_at', 'text', (c) => c.notNull())
    .execute();

  const hourOf = (col: string) => sql`substr(${sql.ref(col)}, 1, 13)`;
  /** Add `count` of one kind per hour and connection, as the select groups them. */
  const fill = (kind: (typeof KINDS)[number], select: ReturnType<typeof sql>) =>
    sql`insert into analytics_hourly (workspace_id, connection_id, hour, ${sql.ref(kind)}) ${select}
        on conflict (workspace_id, hour, connection_id) do update
        set ${sql.ref(kind)} = analytics_hourly.${sql.ref(kind)} + excluded.${sql.ref(kind)}`.execute(db);
  const fromMessages = (kind: (typeof KINDS)[number], at: string, where: ReturnType<typeof sql>) =>
    fill(
      kind,
      sql`select workspace_id, connection_id, ${hourOf(at)}, count(*) from messages where ${where}
          group by workspace_id, connection_id, ${hourOf(at)}`,
    );
  await fromMessages('accepted', 'created_at', sql`true`);
  await fromMessages('suppressed', 'created_at', sql`status = 'suppressed'`);
  await fromMessages('sent', 'sent_at', sql`sent_at is not null`);
  await fromMessages('failed', 'updated_at', sql`status = 'failed'`);
  const fromEvents = (kind: (typeof KINDS)[number], where: ReturnType<typeof sql>) =>
    fill(
      kind,
      sql`select workspace_id, connection_id, ${hourOf('occurred_at')}, count(*) from message_events where ${where}
          group by workspace_id, connection_id, ${hourOf('occurred_at')}`,
    );
  await fromEvents('delivered', sql`kind = 'delivery'`);
  await fromEvents('bounced_permanent', sql`kind = 'bounce' and details like '%"type":"Permanent"%'`);
  await fromEvents('bounced_transient', sql`kind = 'bounce' and details like '%"type":"Transient"%'`);
  await fromEvents(
    'bounced_undetermined',
    sql`kind = 'bounce' and details not like '%"type":"Permanent"%' and details not like '%"type":"Transient"%'`,
  );
  await fromEvents('complained', sql`kind = 'complaint'`);
  await fromEvents('rejected', sql`kind in ('reject', 'rendering_failure')`);
  await fromEvents('delayed', sql`kind = 'delivery_delay'`);
  await fromEvents('opened', sql`kind = 'open'`);
  await fromEvents('clicked', sql`kind = 'click'`);

  const cols = sql.join(KINDS.map((k) => sql.ref(k)));
  const sums = sql.join(KINDS.map((k) => sql`sum(${sql.ref(k)})`));
  await sql`insert into analytics_daily (workspace_id, day, connection_id, ${cols})
    select workspace_id, substr(hour, 1, 10), connection_id, ${sums} from analytics_hourly
    group by workspace_id, substr(hour, 1, 10), connection_id`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('connection_quotas').execute();
  await db.schema.dropTable('analytics_daily').execute();
  await db.schema.dropTable('analytics_hourly').execute();
}
