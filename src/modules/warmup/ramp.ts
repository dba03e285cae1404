import type { Clock } from '../../clock.js';
import type { Db } from '../../store/db.js';
import type { WarmupPlanTable } from '../../store/schema.js';
import type { ReputationGuard } from '../events/reputation.js';
import { daysBetween, type PlanShape, utcDay } from './plan.js';

export const planShape = (r: WarmupPlanTable): PlanShape => ({
  schedule: r.schedule === null ? null : (JSON.parse(r.schedule) as number[]),
  startVolume: r.start_volume,
  doublingDays: r.doubling_days,
  startDate: r.start_date,
  heldDays: r.held_days,
});

/**
 * Moving a plan to today. The step of a day is decided once, by whoever first looks at the plan
 * that day (a worker about to send, or a person reading it): the ramp advances for each day that
 * passed unless the plan is paused or the reputation guard is at its warning (or pause) level,
 * in which case those days are added to `held_days` and the step stays where it was. When no one
 * looked for several days nothing was sent either, so the rates measured now stand for them all.
 * The update is conditional on the day last decided, so two workers deciding at once agree.
 */
export function createRamp(deps: { db: Db; clock: Clock; reputation: Pick<ReputationGuard, 'measure'> }) {
  const { db } = deps;

  async function holdReason(plan: WarmupPlanTable): Promise<string | null> {
    if (plan.paused_at) return 'paused';
    const r = await deps.reputation.measure(plan.connection_id);
    if (r.level !== 'warn' && r.level !== 'pause') return null;
    const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
    return `reputation_${r.level}: bounces ${pct(r.bounceRate)}, complaints ${pct(r.complaintRate)} over the last ${r.sample} sends`;
  }

  /** The plan as of today: rolled forward when the UTC day changed since it was last decided. */
  async function roll(plan: WarmupPlanTable): Promise<WarmupPlanTable> {
    const today = utcDay(deps.clock.now());
    const days = daysBetween(plan.rolled_on, today);
    if (days <= 0) return plan;
    const reason = await holdReason(plan);
    const next = { held_days: plan.held_days + (reason ? days : 0), rolled_on: today, hold_reason: reason };
    const res = await db
      .updateTable('warmup_plans')
      .set(next)
      .where('id', '=', plan.id)
      .where('rolled_on', '=', plan.rolled_on)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) return { ...plan, ...next };
    // Someone else decided today first (or the plan was replaced or removed): take theirs.
    return (await db.selectFrom('warmup_plans').selectAll().where('id', '=', plan.id).executeTakeFirst()) ?? plan;
  }

  return { roll };
}

export type Ramp = ReturnType<typeof createRamp>;
