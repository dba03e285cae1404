import type { Clock } from '../../clock.js';
import { CATALOGUE, type ErrorCode } from '../../errors.js';
import type { Db } from '../../store/db.js';

/**
 * SNS deliveries Sesame refused, per connection, so a person can see why events stopped: SNS
 * only gets the reason back, and it keeps none. Counted per hour and code (the last topic and
 * time kept with each), never the body: the table stays small however many forged posts arrive,
 * and hours older than a day are pruned.
 */
export interface RefusalSummary {
  /** Refused deliveries in the last 24 hours. */
  total: number;
  /** Most frequent first. */
  byCode: Array<{ code: string; count: number; lastAt: string; topicArn: string | null }>;
  /** "N deliveries refused in the last 24 h: <code> ×n (last at …), …" */
  message: string;
  /** The hint of the most frequent code. */
  hint: string;
  code: string;
}

const HOUR = 3_600_000;
const PRUNE_EVERY_MS = 60_000;
const MAX_TOPIC_CHARS = 256;
/** An hour bucket as it sorts: YYYY-MM-DDTHH. */
const hourOf = (t: number): string => new Date(t).toISOString().slice(0, 13);

export function createSnsRefusals(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;
  let prunedAt = 0;

  return {
    async record(connectionId: string, code: string, topicArn: string | null): Promise<void> {
      const now = clock.now().getTime();
      const at = new Date(now).toISOString();
      const topic = topicArn === null ? null : topicArn.slice(0, MAX_TOPIC_CHARS);
      await db
        .insertInto('sns_refusals')
        .values({ connection_id: connectionId, hour: hourOf(now), code, refused: 1, last_at: at, last_topic: topic })
        .onConflict((oc) =>
          oc.columns(['connection_id', 'hour', 'code']).doUpdateSet((eb) => ({
            refused: eb('sns_refusals.refused', '+', 1),
            last_at: at,
            last_topic: topic,
          })),
        )
        .execute();
      if (now - prunedAt >= PRUNE_EVERY_MS) {
        prunedAt = now;
        await db
          .deleteFrom('sns_refusals')
          .where('hour', '<', hourOf(now - 23 * HOUR))
          .execute();
      }
    },

    /** Refusals of the last 24 hours (to the hour), or null when there were none. */
    async summary(connectionId: string): Promise<RefusalSummary | null> {
      const now = clock.now().getTime();
      const rows = await db
        .selectFrom('sns_refusals')
        .select(['code', 'refused', 'last_at', 'last_topic'])
        .where('connection_id', '=', connectionId)
        .where('hour', '>=', hourOf(now - 23 * HOUR))
        .execute();
      if (rows.length === 0) return null;
      const byCode = new Map<string, RefusalSummary['byCode'][number]>();
      for (const r of rows) {
        const c = byCode.get(r.code);
        if (!c)
          byCode.set(r.code, { code: r.code, count: Number(r.refused), lastAt: r.last_at, topicArn: r.last_topic });
        else {
          c.count += Number(r.refused);
          if (r.last_at > c.lastAt) Object.assign(c, { lastAt: r.last_at, topicArn: r.last_topic });
        }
      }
      const list = [...byCode.values()].sort(
        (a, b) => b.count - a.count || b.lastAt.localeCompare(a.lastAt) || a.code.localeCompare(b.code),
      );
      const total = list.reduce((n, c) => n + c.count, 0);
      const top = list[0]!;
      return {
        total,
        byCode: list,
        message: `${total} ${total === 1 ? 'delivery' : 'deliveries'} refused in the last 24 h: ${list
          .map((c) => `${c.code} ×${c.count} (last at ${c.lastAt}${c.topicArn ? `, topic ${c.topicArn}` : ''})`)
          .join(', ')}.`,
        hint: CATALOGUE[top.code as ErrorCode]?.hint ?? '',
        code: top.code,
      };
    },
  };
}

export type SnsRefusals = ReturnType<typeof createSnsRefusals>;
