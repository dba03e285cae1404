/**
 * One mechanism for all background work (sends, webhook deliveries, domain re-checks), on SQLite
 * and PostgreSQL alike: a job row per piece of work, written in the same transaction as the row it
 * works on, taken by lease. A lease that runs out (its worker died) frees the job for another,
 * unless the job was marked in flight: work that may have reached the outside world is never
 * done twice on its own (at most once); it is handed to recovery instead.
 *
 * The table implementation is the jobs repository (src/store/jobs.ts); this is its contract.
 */
export type QueueName = 'send' | 'webhook' | 'domain_check';

export interface Job {
  queue: QueueName;
  /** The id of what the job works on (message, delivery, domain); unique per queue. */
  id: string;
  /** Jobs of a group can be skipped together (a paused connection's sends). */
  group: string;
  runAt: string;
  attempts: number;
  inFlightSince: string | null;
}

/** What a job write runs in: the caller's transaction (or the database itself). */
export interface JobWriter {
  /** Add a job; an existing job with the same id is left as it is. */
  enqueue(queue: QueueName, job: { id: string; group: string; runAt: string }): Promise<void>;
  /** Add a job or move an existing one (not in flight) to a new time. */
  schedule(queue: QueueName, job: { id: string; group: string; runAt: string }): Promise<void>;
  /**
   * Mark a leased job as handed to the outside world: from here its outcome is unknown until
   * finish/retryAt. False when this owner no longer holds the lease (another took the job).
   */
  claim(queue: QueueName, id: string, owner: string, now: Date, leaseMs: number): Promise<boolean>;
  finish(queue: QueueName, id: string): Promise<void>;
  /** Delete a job not in flight (true), or report that it is being worked on right now (false). */
  cancel(queue: QueueName, id: string, now: Date): Promise<boolean>;
  /** In-flight jobs whose lease ran out (their worker died): removed and returned for recovery. */
  takeAbandoned(queue: QueueName, now: Date): Promise<Job[]>;
}

export interface JobQueue extends JobWriter {
  /** Take up to `limit` due jobs for `leaseMs`, oldest first, skipping the given groups. */
  lease(
    queue: QueueName,
    opts: { owner: string; limit: number; now: Date; leaseMs: number; skipGroups?: readonly string[] },
  ): Promise<Job[]>;
  /** Give a job back to run at `runAt`, counting an attempt or not. */
  retryAt(queue: QueueName, id: string, runAt: Date, countAttempt: boolean): Promise<void>;
  depth(queue: QueueName): Promise<number>;
  /** When the earliest job not leased falls due, or null when none waits. */
  nextDue(queue: QueueName): Promise<string | null>;
}
