import { sql } from 'kysely';
import type { Db } from '../../store/db.js';
import { utcDay } from './plan.js';

/** Daily counters are kept this long (for nothing but a look back); older ones are dropped. */
const KEEP_DAYS = 7;

export interface UsageKey {
  connectionId: string;
  /** '' for the whole connection. */
  domain: string;
  day: string;
}

/** Messages from `domain` (exact match, as the plan does), by their stored From value. */
const fromDomain = (domain: string) => [`%@${domain}`, `%@${domain}>`] as const;

/**
 * How many recipients a plan's scope used on a UTC day, shared by every worker: one counter row per
 * (connection, domain, day), raised by a conditional UPDATE so two workers can never both take the
 * last of the allowance. SES counts recipients, so the counter does too. A worker takes its share
 * before calling SES and gives it back when SES did not take the message; a worker that dies in
 * between leaves it taken, erring on the side of sending less.
 */
export function createWarmupUsage(deps: { db: Db }) {
  const { db } = deps;
  const known = new Set<string>();

  /**
   * What the scope had sent that day before its counter existed (a plan created mid-day, or the
   * first message of the day), counted from the messages themselves.
   */
  async function sentFromMessages(k: UsageKey): Promise<number> {
    const start = `${k.day}T00:00:00.000Z`;
    let q = db
      .selectFrom('messages')
      .select((eb) => eb.fn.sum<number>('recipient_count').as('n'))
      .where('connection_id', '=', k.connectionId)
      .where('sent_at', '>=', start)
      .where('sent_at', '<', new Date(Date.parse(start) + 86_400_000).toISOString());
    if (k.domain) {
      const [bare, named] = fromDomain(k.domain);
      q = q.where((eb) =>
        eb.or([
          eb(sql<string>`lower(from_address)`, 'like', bare),
          eb(sql<string>`lower(from_address)`, 'like', named),
        ]),
      );
    }
    const r = await q.executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async function ensure(k: UsageKey): Promise<void> {
    const id = `${k.connectionId}|${k.domain}|${k.day}`;
    if (known.has(id)) return;
    const used = await sentFromMessages(k);
    await db
      .insertInto('warmup_usage')
      .values({ connection_id: k.connectionId, domain: k.domain, day: k.day, used })
      .onConflict((oc) => oc.columns(['connection_id', 'domain', 'day']).doNothing())
      .execute();
    const old = utcDay(new Date(Date.parse(k.day) - KEEP_DAYS * 86_400_000));
    await db
      .deleteFrom('warmup_usage')
      .where('connection_id', '=', k.connectionId)
      .where('domain', '=', k.domain)
      .where('day', '<', old)
      .execute();
    if (known.size > 10_000) known.clear();
    known.add(id);
  }

  const where = (k: UsageKey) =>
    db
      .updateTable('warmup_usage')
      .where('connection_id', '=', k.connectionId)
      .where('domain', '=', k.domain)
      .where('day', '=', k.day);

  return {
    /**
     * Take `n` recipients of the day's `allowance`; false when they do not fit. A message with more
     * recipients than a whole day allows goes alone, as the day's first, rather than never.
     */
    async take(k: UsageKey, n: number, allowance: number): Promise<boolean> {
      await ensure(k);
      const res = await where(k)
        .set((eb) => ({ used: eb('used', '+', n) }))
        .where((eb) => (n > allowance ? eb('used', '=', 0) : eb(eb('used', '+', n), '<=', allowance)))
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },

    async giveBack(k: UsageKey, n: number): Promise<void> {
      await where(k)
        .set((eb) => ({
          used: sql<number>`case when ${eb.ref('used')} > ${n} then ${eb.ref('used')} - ${n} else 0 end`,
        }))
        .execute();
    },

    /** Recipients used on that day (sent, or being sent right now). */
    async used(k: UsageKey): Promise<number> {
      const r = await db
        .selectFrom('warmup_usage')
        .select('used')
        .where('connection_id', '=', k.connectionId)
        .where('domain', '=', k.domain)
        .where('day', '=', k.day)
        .executeTakeFirst();
      return r ? r.used : sentFromMessages(k);
    },

    /** Queued messages the warmup is holding for a later day, in the scope. */
    async waiting(connectionId: string, domain: string): Promise<number> {
      let q = db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('connection_id', '=', connectionId)
        // Never sent: lets the (connection_id, sent_at) index narrow the scan.
        .where('sent_at', 'is', null)
        .where('status', '=', 'queued')
        .where('last_error_code', '=', WARMUP_HELD);
      if (domain) {
        const [bare, named] = fromDomain(domain);
        q = q.where((eb) =>
          eb.or([
            eb(sql<string>`lower(from_address)`, 'like', bare),
            eb(sql<string>`lower(from_address)`, 'like', named),
          ]),
        );
      }
      const r = await q.executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}

/** The code a message held by warmup carries (status stays `queued`). */
export const WARMUP_HELD = 'warmup_held';

export type WarmupUsage = ReturnType<typeof createWarmupUsage>;
