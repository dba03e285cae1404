import { sendError } from '../aws/send-errors.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { IdempotencyRepo } from '../store/idempotency.js';
import type { AnalyticsRepo } from '../store/analytics.js';
import type { MessagesRepo } from '../store/messages.js';

export interface RecoveryRepos {
  jobs: Pick<JobQueue, 'takeAbandoned'>;
  messages: Pick<MessagesRepo, 'fail'>;
  analytics: Pick<AnalyticsRepo, 'addMessages'>;
}

/**
 * Housekeeping for sending, in any process (a worker or not):
 *  - sends abandoned in flight: a worker died while SES had the message. Nobody can know whether
 *    SES accepted it, so it is not sent again on its own (at most once): it fails with
 *    `send_outcome_unknown`, for a person to check and retry;
 *  - idempotency keys past their 24 hours, deleted through their expiry index.
 */
export function createRecovery(deps: {
  clock: Clock;
  logger: Logger;
  transaction: <T>(fn: (r: RecoveryRepos) => Promise<T>) => Promise<T>;
  idempotency: Pick<IdempotencyRepo, 'deleteExpired'>;
}) {
  const { clock, logger } = deps;

  async function recoverAbandoned(): Promise<number> {
    return deps.transaction(async (r) => {
      const now = clock.now();
      const abandoned = await r.jobs.takeAbandoned('send', now);
      for (const j of abandoned)
        if (
          await r.messages.fail(
            j.id,
            sendError(
              'send_outcome_unknown',
              `The worker stopped while SES was handling this message (since ${j.inFlightSince}); SES may or may not have accepted it.`,
            ),
            now.toISOString(),
          )
        )
          await r.analytics.addMessages('failed', [j.id], now.toISOString());
      if (abandoned.length) logger.warn({ count: abandoned.length }, 'sends abandoned in flight: outcome unknown');
      return abandoned.length;
    });
  }

  return {
    /** One housekeeping pass; true when it changed anything. */
    async pass(): Promise<boolean> {
      const recovered = await recoverAbandoned();
      const expired = await deps.idempotency.deleteExpired(clock.now().toISOString());
      return recovered + expired > 0;
    },
  };
}
