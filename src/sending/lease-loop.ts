import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Job, JobQueue } from '../queue/job-queue.js';
import type { MessagesRepo, SendableMessage } from '../store/messages.js';
import type { SendingOptions } from './types.js';

/**
 * The `send` loop's pass: lease due jobs up to the concurrency (skipping the queues of held
 * connections), load their messages in one query, and start each send without awaiting it.
 * settled() waits for the sends in flight; a finished send frees its slot and asks for a pass.
 */
export function createLeaseLoop(deps: {
  clock: Clock;
  logger: Logger;
  owner: string;
  options: Pick<SendingOptions, 'concurrency' | 'leaseMs'>;
  jobs: Pick<JobQueue, 'lease'>;
  messages: Pick<MessagesRepo, 'forSending'>;
  /** Connections whose queue waits this pass. */
  held: () => Promise<string[]>;
  /** Runs at the start of every pass (the heartbeat). */
  beforePass?: () => Promise<void>;
  send: (job: Job, msg: SendableMessage | undefined) => Promise<void>;
  /** A send finished: its slot is free. */
  onFree?: () => void;
}) {
  const { clock, logger, options: o } = deps;
  const inFlight = new Set<Promise<void>>();
  let stopping = false;

  function start(job: Job, msg: SendableMessage | undefined): void {
    const p = deps
      .send(job, msg)
      .catch((e: unknown) => logger.error({ err: e, messageId: job.id }, 'send handling failed'))
      .finally(() => {
        inFlight.delete(p);
        deps.onFree?.();
      });
    inFlight.add(p);
  }

  return {
    async pass(): Promise<boolean> {
      if (stopping) return false;
      await deps.beforePass?.().catch((e: unknown) => logger.error({ err: e }, 'heartbeat failed'));
      const room = o.concurrency - inFlight.size;
      // Lease in batches: one query for several jobs instead of one per finished send.
      if (room <= 0 || (inFlight.size > 0 && room < Math.max(1, Math.floor(o.concurrency / 4)))) return false;
      let jobs: Job[];
      try {
        jobs = await deps.jobs.lease('send', {
          owner: deps.owner,
          limit: room,
          now: clock.now(),
          leaseMs: o.leaseMs,
          skipGroups: await deps.held(),
        });
      } catch (e) {
        logger.error({ err: e }, 'leasing jobs failed');
        return false;
      }
      if (jobs.length === 0) return false;
      let loaded: Map<string, SendableMessage>;
      try {
        loaded = await deps.messages.forSending(jobs.map((j) => j.id));
      } catch (e) {
        // The leases run out and the jobs are taken again.
        logger.error({ err: e }, 'loading messages failed');
        return false;
      }
      for (const job of jobs) start(job, loaded.get(job.id));
      return true;
    },

    /** Resolves once every send started so far has ended. */
    async settled(): Promise<void> {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },

    /** Take no more jobs (sends in flight finish). */
    stop(): void {
      stopping = true;
    },
  };
}
