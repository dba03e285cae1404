import { type ExpressionBuilder, sql } from 'kysely';
import type { Executor } from './db.js';
import type { Database, WarmupPlanTable } from './schema.js';

export interface WarmupPlan {
  id: string;
  workspaceId: string;
  connectionId: string;
  /** '' for the whole connection. */
  domain: string;
  /** A custom plan's daily volumes; null for the default ramp. */
  schedule: number[] | null;
  startVolume: number;
  doublingDays: number;
  /** YYYY-MM-DD (UTC). */
  startDate: string;
  heldDays: number;
  /** The UTC day the step was last decided for (YYYY-MM-DD). */
  rolledOn: string;
  holdReason: string | null;
  pausedAt: string | null;
  /** SES Max24HourSend as a worker last read it. */
  accountQuota: number | null;
  createdAt: string;
  updatedAt: string;
}

/** What setting a plan writes; a replaced plan keeps its id, creation time and noted quota. */
export type WarmupPlanSettings = Pick<
  WarmupPlan,
  | 'schedule'
  | 'startVolume'
  | 'doublingDays'
  | 'startDate'
  | 'heldDays'
  | 'rolledOn'
  | 'holdReason'
  | 'pausedAt'
  | 'updatedAt'
>;

/** One daily counter: a plan scope's recipients on a UTC day. */
export interface UsageKey {
  connectionId: string;
  /** '' for the whole connection. */
  domain: string;
  day: string;
}

const toPlan = (r: WarmupPlanTable): WarmupPlan => ({
  id: r.id,
  workspaceId: r.workspace_id,
  connectionId: r.connection_id,
  domain: r.domain,
  schedule: r.schedule === null ? null : (JSON.parse(r.schedule) as number[]),
  startVolume: r.start_volume,
  doublingDays: r.doubling_days,
  startDate: r.start_date,
  heldDays: r.held_days,
  rolledOn: r.rolled_on,
  holdReason: r.hold_reason,
  pausedAt: r.paused_at,
  accountQuota: r.account_quota,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const settingsTable = (s: WarmupPlanSettings) => ({
  schedule: s.schedule === null ? null : JSON.stringify(s.schedule),
  start_volume: s.startVolume,
  doubling_days: s.doublingDays,
  start_date: s.startDate,
  held_days: s.heldDays,
  rolled_on: s.rolledOn,
  hold_reason: s.holdReason,
  paused_at: s.pausedAt,
  updated_at: s.updatedAt,
});

const DAY_MS = 86_400_000;

/**
 * Warmup plans and their daily counters: the only writer of `warmup_plans` and `warmup_usage`.
 * Counters change by conditional statements, so workers in several processes share one allowance
 * without ever both taking its last share.
 */
export function createWarmupRepo(db: Executor) {
  const usage = (k: UsageKey) =>
    db
      .updateTable('warmup_usage')
      .where('connection_id', '=', k.connectionId)
      .where('domain', '=', k.domain)
      .where('day', '=', k.day);

  return {
    async plansOf(connectionId: string): Promise<WarmupPlan[]> {
      const rows = await db
        .selectFrom('warmup_plans')
        .selectAll()
        .where('connection_id', '=', connectionId)
        .orderBy('domain')
        .execute();
      return rows.map(toPlan);
    },

    async plan(connectionId: string, domain: string): Promise<WarmupPlan | undefined> {
      const r = await db
        .selectFrom('warmup_plans')
        .selectAll()
        .where('connection_id', '=', connectionId)
        .where('domain', '=', domain)
        .executeTakeFirst();
      return r && toPlan(r);
    },

    async byId(id: string): Promise<WarmupPlan | undefined> {
      const r = await db.selectFrom('warmup_plans').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toPlan(r);
    },

    /**
     * Create the plan for (connection, domain), or replace the settings of the one there: one
     * statement, so two requests at once cannot both create it (the connection-wide plan's domain
     * is '', not NULL, so the unique key holds on both dialects). A new plan takes the quota
     * another plan of the connection already noted. `created` is false when one was replaced.
     */
    async upsert(
      p: Pick<WarmupPlan, 'id' | 'workspaceId' | 'connectionId' | 'domain' | 'createdAt'> & WarmupPlanSettings,
    ): Promise<{ id: string; created: boolean }> {
      const known = await db
        .selectFrom('warmup_plans')
        .select('account_quota')
        .where('connection_id', '=', p.connectionId)
        .where('account_quota', 'is not', null)
        .executeTakeFirst();
      const values = settingsTable(p);
      const saved = await db
        .insertInto('warmup_plans')
        .values({
          id: p.id,
          workspace_id: p.workspaceId,
          connection_id: p.connectionId,
          domain: p.domain,
          account_quota: known?.account_quota ?? null,
          created_at: p.createdAt,
          ...values,
        })
        .onConflict((oc) => oc.columns(['connection_id', 'domain']).doUpdateSet(values))
        .returning('id')
        .executeTakeFirstOrThrow();
      return { id: saved.id, created: saved.id === p.id };
    },

    /**
     * Record the decision for the days up to `next.rolledOn`, only if no one decided since
     * `fromRolledOn`; false when someone did (or the plan is gone).
     */
    async roll(
      id: string,
      fromRolledOn: string,
      next: Pick<WarmupPlan, 'heldDays' | 'rolledOn' | 'holdReason'>,
    ): Promise<boolean> {
      const res = await db
        .updateTable('warmup_plans')
        .set({ held_days: next.heldDays, rolled_on: next.rolledOn, hold_reason: next.holdReason })
        .where('id', '=', id)
        .where('rolled_on', '=', fromRolledOn)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },

    async setPaused(id: string, pausedAt: string | null, updatedAt: string): Promise<void> {
      await db
        .updateTable('warmup_plans')
        .set({ paused_at: pausedAt, updated_at: updatedAt })
        .where('id', '=', id)
        .execute();
    },

    async delete(id: string): Promise<void> {
      await db.deleteFrom('warmup_plans').where('id', '=', id).execute();
    },

    /** The SES quota a worker read, on every plan of the connection (written only when it changed). */
    async noteQuota(connectionId: string, quota: number): Promise<void> {
      await db
        .updateTable('warmup_plans')
        .set({ account_quota: quota })
        .where('connection_id', '=', connectionId)
        .where((eb) => eb.or([eb('account_quota', 'is', null), eb('account_quota', '!=', quota)]))
        .execute();
    },

    /** Start a day's counter at `used` unless it exists; counters older than `dropBefore` go. */
    async openDay(k: UsageKey, used: number, dropBefore: string): Promise<void> {
      await db
        .insertInto('warmup_usage')
        .values({ connection_id: k.connectionId, domain: k.domain, day: k.day, used })
        .onConflict((oc) => oc.columns(['connection_id', 'domain', 'day']).doNothing())
        .execute();
      await db
        .deleteFrom('warmup_usage')
        .where('connection_id', '=', k.connectionId)
        .where('domain', '=', k.domain)
        .where('day', '<', dropBefore)
        .execute();
    },

    /**
     * Add `n` to the day's counter if the sum stays within `allowance` (or, `n` being more than a
     * whole day allows, if nothing was used yet); false when it does not fit or the day has no counter.
     */
    async take(k: UsageKey, n: number, allowance: number): Promise<boolean> {
      const res = await usage(k)
        .set((eb) => ({ used: eb('used', '+', n) }))
        .where((eb) => (n > allowance ? eb('used', '=', 0) : eb(eb('used', '+', n), '<=', allowance)))
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },

    /** Take `n` off the day's counter, never below zero. */
    async giveBack(k: UsageKey, n: number): Promise<void> {
      await usage(k)
        .set((eb) => ({
          used: sql<number>`case when ${eb.ref('used')} > ${n} then ${eb.ref('used')} - ${n} else 0 end`,
        }))
        .execute();
    },

    /** The day's counter; undefined when it was never opened. */
    async used(k: UsageKey): Promise<number | undefined> {
      const r = await db
        .selectFrom('warmup_usage')
        .select('used')
        .where('connection_id', '=', k.connectionId)
        .where('domain', '=', k.domain)
        .where('day', '=', k.day)
        .executeTakeFirst();
      return r?.used;
    },

    /** Recipients of the scope's messages sent on the day, counted from the messages themselves. */
    async sentOn(k: UsageKey): Promise<number> {
      const start = `${k.day}T00:00:00.000Z`;
      let q = db
        .selectFrom('messages')
        .select((eb) => eb.fn.sum<number>('recipient_count').as('n'))
        .where('connection_id', '=', k.connectionId)
        .where('sent_at', '>=', start)
        .where('sent_at', '<', new Date(Date.parse(start) + DAY_MS).toISOString());
      if (k.domain) q = q.where(fromDomainIs(k.domain));
      const r = await q.executeTakeFirst();
      return Number(r?.n ?? 0);
    },

    /** Queued messages of the scope held with `code` (by the warmup, for a later day). */
    async waiting(connectionId: string, domain: string, code: string): Promise<number> {
      let q = db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('connection_id', '=', connectionId)
        // Never sent: lets the (connection_id, sent_at) index narrow the scan.
        .where('sent_at', 'is', null)
        .where('status', '=', 'queued')
        .where('last_error_code', '=', code);
      if (domain) q = q.where(fromDomainIs(domain));
      const r = await q.executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}

/** From `addr@domain` or `"Name" <addr@domain>`, the domain matched exactly and without case. */
const fromDomainIs = (domain: string) => (eb: ExpressionBuilder<Database, 'messages'>) =>
  eb.or([
    eb(sql<string>`lower(from_address)`, 'like', `%@${domain}`),
    eb(sql<string>`lower(from_address)`, 'like', `%@${domain}>`),
  ]);

export type WarmupRepo = ReturnType<typeof createWarmupRepo>;
