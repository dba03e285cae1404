import type { Clock } from '../../clock.js';
import { CATALOGUE, type ErrorCode } from '../../errors.js';
import type { RefusalCount, SnsRefusalsRepo } from '../../store/events.js';

/**
 * SNS deliveries Sesame refused, per connection, so a person can see why events stopped: SNS
 * only gets the reason back, and it keeps none. Counted per hour and code (the last topic and
 * time kept with each), never the body; hours older than a day are pruned.
 */
export interface RefusalSummary {
  /** Refused deliveries in the last 24 hours. */
  total: number;
  /** Most frequent first. */
  byCode: RefusalCount[];
  /** "N deliveries refused in the last 24 h: <code> ×n (last at …), …" */
  message: string;
  /** The hint of the most frequent code. */
  hint: string;
  code: string;
}

const PRUNE_EVERY_MS = 60_000;

export function createSnsRefusals(deps: { repo: Pick<SnsRefusalsRepo, 'count' | 'prune' | 'recent'>; clock: Clock }) {
  const { repo, clock } = deps;
  let prunedAt = 0;

  return {
    async record(connectionId: string, code: string, topicArn: string | null): Promise<void> {
      const now = clock.now();
      await repo.count(connectionId, code, topicArn, now);
      if (now.getTime() - prunedAt >= PRUNE_EVERY_MS) {
        prunedAt = now.getTime();
        await repo.prune(now);
      }
    },

    /** Refusals of the last 24 hours (to the hour), or null when there were none. */
    async summary(connectionId: string): Promise<RefusalSummary | null> {
      const list = await repo.recent(connectionId, clock.now());
      const top = list[0];
      if (!top) return null;
      const total = list.reduce((n, c) => n + c.count, 0);
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
