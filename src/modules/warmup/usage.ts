import type { UsageKey, WarmupRepo } from '../../store/warmup.js';
import { utcDay } from './plan.js';

export type { UsageKey } from '../../store/warmup.js';

/** Daily counters are kept this long (for nothing but a look back); older ones are dropped. */
const KEEP_DAYS = 7;
const DAY_MS = 86_400_000;

/** The code a message held by warmup carries (status stays `queued`). */
export const WARMUP_HELD = 'warmup_held';

/**
 * How many recipients a plan's scope used on a UTC day, shared by every worker: one counter per
 * (connection, domain, day), raised only while it stays within the allowance, so two workers can
 * never both take the last of it. SES counts recipients, so the counter does too. A worker takes
 * its share before calling SES and gives it back when SES did not take the message; a worker that
 * dies in between leaves it taken, erring on the side of sending less.
 */
export function createWarmupUsage(deps: {
  repo: Pick<WarmupRepo, 'openDay' | 'take' | 'giveBack' | 'used' | 'sentOn' | 'waiting'>;
}) {
  const { repo } = deps;
  /** Counters this process knows exist: opening a day costs a count of the day's messages. */
  const known = new Set<string>();

  /**
   * A day's counter starts at what the scope had sent that day before it existed (a plan created
   * mid-day, or the first message of the day), counted from the messages themselves.
   */
  async function ensure(k: UsageKey): Promise<void> {
    const id = `${k.connectionId}|${k.domain}|${k.day}`;
    if (known.has(id)) return;
    await repo.openDay(k, await repo.sentOn(k), utcDay(new Date(Date.parse(k.day) - KEEP_DAYS * DAY_MS)));
    if (known.size > 10_000) known.clear();
    known.add(id);
  }

  return {
    /**
     * Take `n` recipients of the day's `allowance`; false when they do not fit. A message with more
     * recipients than a whole day allows goes alone, as the day's first, rather than never.
     */
    async take(k: UsageKey, n: number, allowance: number): Promise<boolean> {
      await ensure(k);
      return repo.take(k, n, allowance);
    },

    giveBack: (k: UsageKey, n: number): Promise<void> => repo.giveBack(k, n),

    /** Recipients used on that day (sent, or being sent right now). */
    async used(k: UsageKey): Promise<number> {
      return (await repo.used(k)) ?? repo.sentOn(k);
    },

    /** Queued messages the warmup is holding for a later day, in the scope. */
    waiting: (connectionId: string, domain: string): Promise<number> => repo.waiting(connectionId, domain, WARMUP_HELD),
  };
}

export type WarmupUsage = ReturnType<typeof createWarmupUsage>;
