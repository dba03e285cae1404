import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import type { Executor } from './db.js';
import type { Database } from './schema.js';

/** What is counted, per hour: Sesame's own steps, then what SES reported. */
export const ANALYTICS_KINDS = [
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
export type AnalyticsKind = (typeof ANALYTICS_KINDS)[number];

/** One increment: `n` (default 1) more of `kind` in the UTC hour (and day) of `at`. */
export interface CountIncrement {
  workspaceId: string;
  connectionId: string;
  kind: AnalyticsKind;
  /** ISO time of what is counted. */
  at: string;
  n?: number;
}

export type KindCounts = Record<AnalyticsKind, number>;

/** The counts of one bucket of one connection, as read. */
export interface CountRow {
  /** The bucket's key: YYYY-MM-DDTHH (hour) or YYYY-MM-DD (day), UTC. */
  bucket: string;
  connectionId: string;
  counts: KindCounts;
}

/** The SES quota of a connection's account as Sesame last read it (GetAccount). */
export interface QuotaReading {
  connectionId: string;
  maxSendRate: number;
  max24HourSend: number;
  sentLast24Hours: number;
  readAt: string;
}

/** Where a send job is: handed to SES, due now, or waiting (and why, as far as the message says). */
export type QueueState = 'in_flight' | 'due' | 'warmup' | 'quota' | 'scheduled' | 'retry';

export interface QueueCount {
  connectionId: string;
  state: QueueState;
  count: number;
}

type Counted = { [K in AnalyticsKind]: number | string };
interface AnalyticsTables {
  analytics_hourly: { workspace_id: string; hour: string; connection_id: string } & Counted;
  analytics_daily: { workspace_id: string; day: string; connection_id: string } & Counted;
  connection_quotas: {
    connection_id: string;
    workspace_id: string;
    max_send_rate: number;
    max_24_hour_send: number;
    sent_last_24_hours: number;
    read_at: string;
  };
}

/** An hour bucket as it sorts: YYYY-MM-DDTHH (UTC). */
export const hourOf = (iso: string): string => new Date(iso).toISOString().slice(0, 13);
/** A UTC day: YYYY-MM-DD. */
export const dayOf = (iso: string): string => new Date(iso).toISOString().slice(0, 10);

const zeroCounts = (): KindCounts => Object.fromEntries(ANALYTICS_KINDS.map((k) => [k, 0])) as KindCounts;

/** The two tables and the key column each is bucketed by. */
const TABLES = [
  { table: 'analytics_hourly', key: 'hour', of: hourOf },
  { table: 'analytics_daily', key: 'day', of: dayOf },
] as const;

/**
 * Counts per workspace, UTC hour and connection (`analytics_hourly`), the same summed per UTC day
 * (`analytics_daily`), one column per kind, and the quota readings (`connection_quotas`): the only
 * writer of the three. Counts are added in the transaction of the write that causes them (a
 * message stored, a send outcome, an SES event), so they never disagree with it; a day row is
 * always the sum of its 24 hour rows, added by the same statements. Day rows exist so a year reads
 * a few thousand rows, not a few hundred thousand.
 */
export function createAnalyticsRepo(executor: Executor) {
  // These tables are this repository's alone; their types stay here with it.
  const db = executor as unknown as Kysely<Database & AnalyticsTables>;
  // The same statements run on either table (named at run time); the rows are typed above.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const loose = executor as unknown as Kysely<any>;
  const addAll = (table: string) => (eb: ExpressionBuilder<any, any>) =>
    /* eslint-enable @typescript-eslint/no-explicit-any */
    Object.fromEntries(ANALYTICS_KINDS.map((k) => [k, eb(`${table}.${k}`, '+', eb.ref(`excluded.${k}`))]));

  return {
    /**
     * Add counts. Increments of one row are summed first and rows are written in key order, so two
     * transactions counting the same rows take their locks in the same order.
     */
    async add(increments: readonly CountIncrement[]): Promise<void> {
      if (increments.length === 0) return;
      for (const { table, key, of } of TABLES) {
        const rows = new Map<string, Record<string, string | number>>();
        for (const i of increments) {
          const bucket = of(i.at);
          const id = `${i.workspaceId}\u0000${bucket}\u0000${i.connectionId}`;
          let row = rows.get(id);
          if (!row)
            rows.set(
              id,
              (row = { workspace_id: i.workspaceId, [key]: bucket, connection_id: i.connectionId, ...zeroCounts() }),
            );
          (row[i.kind] as number) += i.n ?? 1;
        }
        // Only the kinds counted here are written (the others keep their value, 0 in a new row); the
        // statement is plain SQL, as Kysely would take longer to build it than the database to run it.
        const kinds = ANALYTICS_KINDS.filter((k) => increments.some((i) => i.kind === k));
        const values = [...rows.entries()]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([, v]) => sql`(${sql.join([v.workspace_id, v[key], v.connection_id, ...kinds.map((k) => v[k])])})`);
        await sql`insert into ${sql.raw(`${table} (workspace_id, ${key}, connection_id, ${kinds.join(', ')})`)}
          values ${sql.join(values)}
          on conflict (${sql.raw(`workspace_id, ${key}, connection_id`)}) do update set ${sql.raw(
            kinds.map((k) => `${k} = ${table}.${k} + excluded.${k}`).join(', '),
          )}`.execute(executor);
      }
    },

    /**
     * Count messages by id as `kind` in the hour of `at`, each under its own workspace and
     * connection (read from the message rows in the same statement).
     */
    async addMessages(kind: AnalyticsKind, ids: readonly string[], at: string): Promise<void> {
      if (ids.length === 0) return;
      for (const { table, key, of } of TABLES)
        await loose
          .insertInto(table)
          .columns(['workspace_id', key, 'connection_id', ...ANALYTICS_KINDS])
          .expression(
            loose
              .selectFrom('messages')
              .select((eb) => [
                'workspace_id',
                sql<string>`${of(at)}`.as(key),
                'connection_id',
                ...ANALYTICS_KINDS.map((k) => (k === kind ? eb.fn.countAll().as(k) : sql.lit(0).as(k))),
              ])
              // The where clause also keeps SQLite from reading the upsert's ON as a join's.
              .where('id', 'in', [...ids])
              .groupBy(['workspace_id', 'connection_id'])
              .orderBy('workspace_id')
              .orderBy('connection_id'),
          )
          .onConflict((oc) => oc.columns(['workspace_id', key, 'connection_id']).doUpdateSet(addAll(table)))
          .execute();
    },

    /**
     * Counts of a workspace from `from` (included) to `to` (excluded), ISO times on bucket
     * boundaries, per bucket (UTC `hour` or `day`) and connection; only the given connections when
     * any are named.
     */
    async counts(q: {
      workspaceId: string;
      from: string;
      to: string;
      bucket: 'hour' | 'day';
      connectionIds?: readonly string[];
    }): Promise<CountRow[]> {
      const read = (rows: Array<Record<string, unknown>>, key: string): CountRow[] =>
        rows.map((r) => {
          const counts = zeroCounts();
          for (const k of ANALYTICS_KINDS) counts[k] = Number(r[k]);
          return { bucket: r[key] as string, connectionId: r.connection_id as string, counts };
        });
      if (q.bucket === 'day') {
        let query = db
          .selectFrom('analytics_daily')
          .selectAll()
          .where('workspace_id', '=', q.workspaceId)
          .where('day', '>=', dayOf(q.from))
          .where('day', '<', dayOf(q.to));
        if (q.connectionIds?.length) query = query.where('connection_id', 'in', [...q.connectionIds]);
        return read(await query.execute(), 'day');
      }
      let query = db
        .selectFrom('analytics_hourly')
        .selectAll()
        .where('workspace_id', '=', q.workspaceId)
        .where('hour', '>=', hourOf(q.from))
        .where('hour', '<', hourOf(q.to));
      if (q.connectionIds?.length) query = query.where('connection_id', 'in', [...q.connectionIds]);
      return read(await query.execute(), 'hour');
    },

    /** Record the quota a connection's SES account reported. */
    async noteQuota(workspaceId: string, q: QuotaReading): Promise<void> {
      const values = {
        connection_id: q.connectionId,
        workspace_id: workspaceId,
        max_send_rate: q.maxSendRate,
        max_24_hour_send: q.max24HourSend,
        sent_last_24_hours: q.sentLast24Hours,
        read_at: q.readAt,
      };
      await db
        .insertInto('connection_quotas')
        .values(values)
        .onConflict((oc) =>
          oc.column('connection_id').doUpdateSet({
            max_send_rate: q.maxSendRate,
            max_24_hour_send: q.max24HourSend,
            sent_last_24_hours: q.sentLast24Hours,
            read_at: q.readAt,
          }),
        )
        .execute();
    },

    /** The last quota reading of each connection of a workspace that has one. */
    async quotas(workspaceId: string): Promise<QuotaReading[]> {
      const rows = await db
        .selectFrom('connection_quotas')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .execute();
      return rows.map((r) => ({
        connectionId: r.connection_id,
        maxSendRate: Number(r.max_send_rate),
        max24HourSend: Number(r.max_24_hour_send),
        sentLast24Hours: Number(r.sent_last_24_hours),
        readAt: r.read_at,
      }));
    },

    /**
     * The send jobs of a workspace's messages (the queue holds only work not finished), counted per
     * connection and state at `now`: in flight, due, or waiting, by the reason its message records
     * (a warmup plan's allowance, the SES daily quota), its scheduled time, or else a retry.
     */
    async queue(workspaceId: string, now: string): Promise<QueueCount[]> {
      const state = sql<QueueState>`case
        when jobs.in_flight_since is not null then 'in_flight'
        when jobs.run_at <= ${now} then 'due'
        when messages.last_error_code = 'warmup_held' then 'warmup'
        when messages.last_error_code = 'ses_daily_quota' then 'quota'
        when messages.scheduled_at is not null and messages.scheduled_at > ${now} then 'scheduled'
        else 'retry' end`;
      // Grouped outside: PostgreSQL does not see the state's expression in GROUP BY as the selected one.
      const states = db
        .selectFrom('jobs')
        .innerJoin('messages', 'messages.id', 'jobs.id')
        .select(['messages.connection_id as connection_id', state.as('state')])
        .where('jobs.queue', '=', 'send')
        .where('messages.workspace_id', '=', workspaceId)
        .as('states');
      const rows = await db
        .selectFrom(states)
        .select((eb) => ['connection_id', 'state', eb.fn.countAll<number>().as('n')])
        .groupBy(['connection_id', 'state'])
        .execute();
      return rows.map((r) => ({ connectionId: r.connection_id, state: r.state, count: Number(r.n) }));
    },
  };
}

export type AnalyticsRepo = ReturnType<typeof createAnalyticsRepo>;
