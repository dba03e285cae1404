import { backoffMs } from '../backoff.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Job, JobQueue } from '../queue/job-queue.js';
import type { AnalyticsRepo } from '../store/analytics.js';
import type { LastError, MessagesRepo } from '../store/messages.js';
import type { SendStats } from './types.js';

/** The repositories the outcome writer uses, bound to one transaction. */
export interface OutcomeRepos {
  jobs: Pick<JobQueue, 'finish' | 'retryAt'>;
  messages: Pick<MessagesRepo, 'markSent' | 'fail' | 'requeue'>;
  analytics: Pick<AnalyticsRepo, 'addMessages'>;
}

/** Successes written in one transaction at most. */
const MAX_BATCH = 100;
/** Writing a success is tried this often before the sends of the batch are given up as unknown. */
const WRITE_ATTEMPTS = 5;

/**
 * Where a send ends: the message's status and its job, written together.
 *
 * Successes are written in groups (one transaction per group, not per message): while one group is
 * being written, the successes arriving meanwhile gather for the next. Until its group is written
 * a message stays in flight, so a crash in between leaves it `send_outcome_unknown`, never sent
 * twice.
 */
export function createOutcomes(deps: {
  clock: Clock;
  logger: Logger;
  repos: OutcomeRepos;
  transaction: <T>(fn: (r: OutcomeRepos) => Promise<T>) => Promise<T>;
  stats: SendStats;
}) {
  const { clock, repos, transaction, stats } = deps;
  type Pending = { id: string; sesMessageId: string; at: string; done: () => void; fail: (e: unknown) => void };
  const pending: Pending[] = [];
  let writing: Promise<void> | undefined;

  async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (e) {
        if (i + 1 >= WRITE_ATTEMPTS) throw e;
        await clock.sleep(backoffMs(i, { baseMs: 100, capMs: 2000 }));
      }
    }
  }

  async function writeSucceeded(batch: Pending[]): Promise<void> {
    try {
      // SES has these messages: try hard to record it (a busy database is not a reason to lose it).
      await withRetries(() =>
        transaction(async (r) => {
          await r.messages.markSent(batch);
          // Counted in the hour each was accepted by SES (a group may straddle two hours).
          for (const [at, ids] of byHour(batch)) await r.analytics.addMessages('sent', ids, at);
          for (const b of batch) await r.jobs.finish('send', b.id);
        }),
      );
      stats.sent += batch.length;
      for (const b of batch) b.done();
    } catch (e) {
      for (const b of batch) b.fail(e);
    }
  }

  function startWriting(): void {
    if (writing) return;
    writing = (async () => {
      // Successes answered in the same turn join the first group.
      await Promise.resolve();
      while (pending.length) await writeSucceeded(pending.splice(0, MAX_BATCH));
    })().finally(() => {
      writing = undefined;
      if (pending.length) startWriting();
    });
  }

  return {
    /** SES accepted the message: resolves once that is written. */
    succeed(job: Job, sesMessageId: string): Promise<void> {
      return new Promise<void>((done, fail) => {
        pending.push({ id: job.id, sesMessageId, at: clock.now().toISOString(), done, fail });
        startWriting();
      });
    },

    /** The message fails for good (only one still on its way); its job is done. */
    async fail(job: Job, why: LastError): Promise<void> {
      await transaction(async (r) => {
        const at = clock.now().toISOString();
        if (await r.messages.fail(job.id, why, at)) await r.analytics.addMessages('failed', [job.id], at);
        await r.jobs.finish('send', job.id);
      });
      stats.failed++;
    },

    /**
     * The message waits, saying why, until `runAt`. A message no longer on its way (a person
     * cancelled it meanwhile) just loses its job.
     */
    async requeue(job: Job, why: LastError, runAt: Date, countAttempt: boolean): Promise<void> {
      if (!(await repos.messages.requeue(job.id, why, clock.now().toISOString())))
        return repos.jobs.finish('send', job.id);
      await repos.jobs.retryAt('send', job.id, runAt, countAttempt);
    },

    /** Take the job again at `runAt`, the message left as it is (no attempt counted). */
    later(job: Job, runAt: Date): Promise<void> {
      return repos.jobs.retryAt('send', job.id, runAt, false);
    },

    /** The job has nothing left to do (its message is gone or no longer on its way). */
    drop(job: Job): Promise<void> {
      return repos.jobs.finish('send', job.id);
    },

    /** Resolves once every success handed over so far is written. */
    async flushed(): Promise<void> {
      while (writing) await writing;
    },
  };
}

export type Outcomes = ReturnType<typeof createOutcomes>;

/** Message ids by the hour of their time, each hour named by its first time. */
function byHour(batch: ReadonlyArray<{ id: string; at: string }>): Map<string, string[]> {
  const hours = new Map<string, { at: string; ids: string[] }>();
  for (const b of batch) {
    const h = hours.get(b.at.slice(0, 13));
    if (h) h.ids.push(b.id);
    else hours.set(b.at.slice(0, 13), { at: b.at, ids: [b.id] });
  }
  return new Map([...hours.values()].map((h) => [h.at, h.ids]));
}
