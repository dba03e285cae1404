import type { Clock } from '../../clock.js';
import type { WarmupPlan, WarmupRepo } from '../../store/warmup.js';
import { allowanceOf, dayIndex, domainOfFrom, nextDayStart, stepOn, stepVolume, utcDay } from './plan.js';
import { planShape, type Ramp } from './ramp.js';
import { type UsageKey, WARMUP_HELD, type WarmupUsage } from './usage.js';

export type Admission =
  | { ok: true; release(): Promise<void> }
  | { ok: false; until: Date; hold: { code: string; message: string; hint: string } };

const OPEN: Admission = { ok: true, release: async () => undefined };

/** Plans change rarely; a worker in another process sees a change within this long. */
const PLANS_TTL_MS = 2000;

/**
 * The warmup check a worker makes before sending: every plan covering the message (the
 * connection's own, and the one for its From domain) must have room for its recipients today.
 * A message without room waits for the next warmup day (the caller moves its job there); it is
 * not failed and not counted as an attempt.
 */
export function createWarmupGate(deps: {
  repo: Pick<WarmupRepo, 'plansOf' | 'noteQuota'>;
  clock: Clock;
  ramp: Pick<Ramp, 'roll'>;
  usage: Pick<WarmupUsage, 'take' | 'giveBack'>;
}) {
  const { repo, clock, usage } = deps;
  const cache = new Map<string, { at: number; plans: WarmupPlan[] }>();

  async function plansOf(connectionId: string): Promise<WarmupPlan[]> {
    const hit = cache.get(connectionId);
    if (hit && clock.ms() - hit.at < PLANS_TTL_MS) return hit.plans;
    const at = clock.ms();
    const plans = await repo.plansOf(connectionId);
    cache.set(connectionId, { at, plans });
    return plans;
  }

  function remember(connectionId: string, p: WarmupPlan): void {
    const hit = cache.get(connectionId);
    if (hit) hit.plans = hit.plans.map((x) => (x.id === p.id ? p : x));
  }

  return {
    /**
     * `quota`: the SES Max24HourSend this worker read itself, or null when it has no reading yet
     * (its read failed): then the quota a worker last noted on the plan applies, as the plan view
     * shows it, rather than a guess that could hold messages until tomorrow for nothing.
     */
    async admit(m: {
      connectionId: string;
      from: string;
      recipients: number;
      quota: number | null;
    }): Promise<Admission> {
      const plans = await plansOf(m.connectionId);
      if (plans.length === 0) return OPEN;
      const domain = domainOfFrom(m.from);
      const covering = plans.filter((p) => p.domain === '' || p.domain === domain);
      if (covering.length === 0) return OPEN;
      const now = clock.now();
      const today = utcDay(now);
      const taken: UsageKey[] = [];
      const giveBack = async () => {
        for (const k of taken.splice(0)) await usage.giveBack(k, m.recipients);
      };
      for (const before of covering) {
        const p = await deps.ramp.roll(before);
        if (p !== before) remember(m.connectionId, p);
        const shape = planShape(p);
        const step = stepOn(shape, today);
        const allowance = allowanceOf(stepVolume(shape, step), m.quota ?? p.accountQuota);
        const key = { connectionId: m.connectionId, domain: p.domain, day: today };
        if (await usage.take(key, m.recipients, allowance)) {
          taken.push(key);
          continue;
        }
        await giveBack();
        const until = nextDayStart(now);
        const scope = p.domain ? `the warmup plan for ${p.domain}` : "the connection's warmup plan";
        return {
          ok: false,
          until,
          hold: {
            code: WARMUP_HELD,
            message: `Held by ${scope}: today's allowance of ${allowance} recipients (warmup day ${Math.max(0, dayIndex(shape, today))}, step ${step}) is used. It goes at ${until.toISOString()}, when the next warmup day starts.`,
            hint: 'Not a failure: the message is sent when the plan allows. See the plan with GET /v1/connections/:id/warmup or `sesame warmup show <connection>`; change it with PUT /v1/connections/:id/warmup or `sesame warmup set`.',
          },
        };
      }
      return { ok: true, release: giveBack };
    },

    /** The worker read the SES quota: plans show it, and the default ramp stops at it. */
    async noteQuota(connectionId: string, max24HourSend: number): Promise<void> {
      // SES answers a double; the column is an integer on PostgreSQL.
      await repo.noteQuota(connectionId, Math.floor(max24HourSend));
    },

    /** A plan was set, paused, resumed or removed in this process: read it again. */
    forget(connectionId: string): void {
      cache.delete(connectionId);
    },
  };
}

export type WarmupGate = ReturnType<typeof createWarmupGate>;
