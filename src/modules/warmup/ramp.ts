import type { Clock } from '../../clock.js';
import type { WarmupPlan, WarmupRepo } from '../../store/warmup.js';
import type { ReputationGuard } from '../events/reputation.js';
import { daysBetween, type PlanShape, utcDay } from './plan.js';

export const planShape = (p: WarmupPlan): PlanShape => ({
  schedule: p.schedule,
  startVolume: p.startVolume,
  doublingDays: p.doublingDays,
  startDate: p.startDate,
  heldDays: p.heldDays,
});

/**
 * Moving a plan to today. The step of a day is decided once, by whoever first looks at the plan
 * that day (a worker about to send, or a person reading it): the ramp advances for each day that
 * passed unless the plan is paused or the reputation guard is at its warning (or pause) level,
 * in which case those days are added to `heldDays` and the step stays where it was. When no one
 * looked for several days nothing was sent either, so the rates measured now stand for them all.
 * The update is conditional on the day last decided, so two workers deciding at once agree.
 */
export function createRamp(deps: {
  repo: Pick<WarmupRepo, 'roll' | 'byId'>;
  clock: Clock;
  reputation: Pick<ReputationGuard, 'measure'>;
}) {
  const { repo } = deps;

  async function holdReason(plan: WarmupPlan): Promise<string | null> {
    if (plan.pausedAt) return 'paused';
    const r = await deps.reputation.measure(plan.connectionId);
    if (r.level !== 'warn' && r.level !== 'pause') return null;
    const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
    return `reputation_${r.level}: bounces ${pct(r.bounceRate)}, complaints ${pct(r.complaintRate)} over the last ${r.sample} sends`;
  }

  /** The plan as of today: rolled forward when the UTC day changed since it was last decided. */
  async function roll(plan: WarmupPlan): Promise<WarmupPlan> {
    const today = utcDay(deps.clock.now());
    const days = daysBetween(plan.rolledOn, today);
    if (days <= 0) return plan;
    const reason = await holdReason(plan);
    const next = { heldDays: plan.heldDays + (reason ? days : 0), rolledOn: today, holdReason: reason };
    if (await repo.roll(plan.id, plan.rolledOn, next)) return { ...plan, ...next };
    // Someone else decided today first (or the plan was replaced or removed): take theirs.
    return (await repo.byId(plan.id)) ?? plan;
  }

  return { roll };
}

export type Ramp = ReturnType<typeof createRamp>;
