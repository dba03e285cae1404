import { type Kysely, sql } from 'kysely';
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

/** One increment: `n` (default 1) more of `kind` in the UTC hour of `at`. */
export interface CountIncrement {
  workspaceId: string;
  connectionId: string;
  kind: AnalyticsKind;
  /** ISO time of what is counted. */
  at: string;
  n?: number;
}

/** The counts of one bucket of one connection, as read: only kinds that occurred. */
export interface CountRow {
  /** The bucket's first hour or day: YYYY-MM-DDTHH (hour) or YYYY-MM-DD (day), UTC. */
  bucket: string;
  connectionId: string;
  kind: AnalyticsKind;
  count: number;
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

interface AnalyticsTables {
  analytics_hourly: {
    workspace_id: string;
    hour: string;
    connection_id: string;
    kind: string;
    count: number | string;
  };
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

/**
 * Hourly counts per workspace, connection and kind (`analytics_hourly`) and the quota readings
 * (`connection_quotas`): the only writer of both. Counts are added in the transaction of the write
 * that causes them (a message stored, a send outcome, an SES event), so they never disagree with
 * it; they are read back summed by hour or by UTC day.
 */
export function createAnalyticsRepo(executor: Executor) {
  // The two tables are this repository's alone; their types stay here with it.
  const db = executor as unknown as Kysely<Database & AnalyticsTables>;

  return {
    /**
     * Add counts. Increments of one row are summed first and rows are written in key order, so two
     * transactions counting the same rows take their locks in the same order.
     */
    async add(increments: readonly CountIncrement[]): Promise<void> {
      const rows = new Map<
        string,
        { workspace_id: string; hour: string; connection_id: string; kind: string; count: number }
      >();
      for (const i of increments) {
        const hour = hourOf(i.at);
        const key = `${i.workspaceId}\u0000${hour}\u0000${i.connectionId}\u0000${i.kind}`;
        const row = rows.get(key);
        if (row) row.count += i.n ?? 1;
        else
          rows.set(key, {
            workspace_id: i.workspaceId,
            hour,
            connection_id: i.connectionId,
            kind: i.kind,
            count: i.n ?? 1,
          });
      }
      if (rows.size === 0) return;
      const values = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
      await db
        .insertInto('analytics_hourly')
        .values(values)
        .onConflict((oc) =>
          oc
            .columns(['workspace_id', 'hour', 'connection_id', 'kind'])
            .doUpdateSet((eb) => ({ count: eb('analytics_hourly.count', '+', eb.ref('excluded.count')) })),
        )
        .execute();
    },

    /**
     * Count messages by id as `kind` in the hour of `at`, each under its own workspace and
     * connection (read from the message rows in the same statement).
     */
    async addMessages(kind: AnalyticsKind, ids: readonly string[], at: string): Promise<void> {
      if (ids.length === 0) return;
      const hour = hourOf(at);
      await db
        .insertInto('analytics_hourly')
        .columns(['workspace_id', 'hour', 'connection_id', 'kind', 'count'])
        .expression(
          db
            .selectFrom('messages')
            .select((eb) => [
              'workspace_id',
              sql<string>`${hour}`.as('hour'),
              'connection_id',
              sql<string>`${kind}`.as('kind'),
              eb.fn.countAll<number>().as('count'),
            ])
            // The where clause also keeps SQLite from reading the upsert's ON as a join's.
            .where('id', 'in', [...ids])
            .groupBy(['workspace_id', 'connection_id'])
            .orderBy('workspace_id')
            .orderBy('connection_id'),
        )
        .onConflict((oc) =>
          oc
            .columns(['workspace_id', 'hour', 'connection_id', 'kind'])
            .doUpdateSet((eb) => ({ count: eb('analytics_hourly.count', '+', eb.ref('excluded.count')) })),
        )
        .execute();
    },

    /**
     * Counts of a workspace from `fromHour` (included) to `toHour` (excluded), summed per bucket
     * (`hour`, or UTC `day`), connection and kind; only the given connections when any are named.
     */
    async counts(q: {
      workspaceId: string;
      fromHour: string;
      toHour: string;
      bucket: 'hour' | 'day';
      connectionIds?: readonly string[];
    }): Promise<CountRow[]> {
      const bucket = sql<string>`substr(hour, 1, ${sql.lit(q.bucket === 'day' ? 10 : 13)})`;
      let query = db
        .selectFrom('analytics_hourly')
        .select((eb) => [bucket.as('bucket'), 'connection_id', 'kind', eb.fn.sum<number | string>('count').as('n')])
        .where('workspace_id', '=', q.workspaceId)
        .where('hour', '>=', q.fromHour)
        .where('hour', '<', q.toHour);
      if (q.connectionIds?.length) query = query.where('connection_id', 'in', [...q.connectionIds]);
      const rows = await query.groupBy([bucket, 'connection_id', 'kind']).execute();
      return rows.map((r) => ({
        bucket: r.bucket,
        connectionId: r.connection_id,
        kind: r.kind as AnalyticsKind,
        count: Number(r.n),
      }));
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
