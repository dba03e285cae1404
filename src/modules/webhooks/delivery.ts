import { randomUUID } from 'node:crypto';
import { backoffMs } from '../../backoff.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Envelope } from '../../crypto/envelope.js';
import { isAppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Logger } from '../../logger.js';
import type { Job, JobQueue } from '../../queue/job-queue.js';
import type { LoopSpec } from '../../runner.js';
import type { DueDelivery, WebhooksRepo } from '../../store/webhooks.js';
import { HEADERS, sign } from './signature.js';
import { postWebhook, type PostResult, type PostWebhook } from './transport.js';
import { checkWebhookUrl, type Resolve, systemResolve } from './url-policy.js';
import { secretContext } from './webhooks.js';

/**
 * Sends due webhook deliveries off the request path, from the job queue (queue `webhook`, one job
 * per pending delivery). Each attempt is recorded; a failure (network error, timeout, non-2xx,
 * redirect) is retried with exponential backoff and jitter until the delivery's 24-hour window
 * closes, then the delivery is marked failed.
 */

const BASE_DELAY_MS = 30_000;
const MAX_DELAY_MS = 2 * 3600_000;
/**
 * A leased delivery is another process's for this long, and so is one being sent (the lease is
 * renewed when the attempt starts): well above the request timeout. An attempt cut short by a
 * dead process is tried again once it runs out (receivers deduplicate on Sesame-Webhook-Id).
 */
const LEASE_MS = 5 * 60_000;
/** Attempts cut short by a dead process are looked for this often. */
const RECOVERY_EVERY_MS = 60_000;
const BATCH = 100;
/** Retries fall due on the clock; this beat picks them up. */
const BEAT_MS = 2000;

/**
 * Delay before attempt `attempt + 1`: doubling from 30 s up to 2 h, half of it random, so
 * endpoints recovering from an outage are not hit by every delivery in the same second, while
 * the gaps still grow.
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const d = backoffMs(attempt - 1, { baseMs: BASE_DELAY_MS, capMs: MAX_DELAY_MS, jitter: 'none' });
  return Math.round(d / 2 + random() * (d / 2));
}

export function createWebhookDelivery(deps: {
  webhooks: Pick<WebhooksRepo, 'due'>;
  jobs: Pick<JobQueue, 'lease' | 'claim' | 'finish'>;
  /** The outcome of an attempt and its job's next step commit together. */
  transaction: <T>(
    fn: (r: {
      webhooks: Pick<WebhooksRepo, 'recordAttempt' | 'expire'>;
      jobs: Pick<JobQueue, 'retryAt' | 'finish' | 'takeAbandoned' | 'enqueue'>;
    }) => Promise<T>,
  ) => Promise<T>;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, 'webhooksAllowPrivate'>;
  envelope: Pick<Envelope, 'open'>;
  resolve?: Resolve;
  post?: PostWebhook;
  options?: { timeoutMs?: number; maxResponseBytes?: number; concurrency?: number; random?: () => number };
}) {
  const { clock, logger } = deps;
  const resolve = deps.resolve ?? systemResolve;
  const post = deps.post ?? postWebhook;
  const timeoutMs = deps.options?.timeoutMs ?? 10_000;
  const maxResponseBytes = deps.options?.maxResponseBytes ?? 1024;
  const concurrency = deps.options?.concurrency ?? 8;
  const random = deps.options?.random ?? Math.random;
  const owner = `webhooks-${randomUUID()}`;
  let recoveredAt = Number.NEGATIVE_INFINITY;

  async function send(row: DueDelivery, body: string): Promise<PostResult> {
    try {
      // Checked again at every attempt: the host may resolve elsewhere now, or the operator may
      // have withdrawn the private allowance since the webhook was registered.
      const target = await checkWebhookUrl(row.url, row.allowPrivate && deps.config.webhooksAllowPrivate, resolve);
      const secret = deps.envelope.open(row.secretCiphertext, secretContext(row.webhookId));
      const timestamp = Math.floor(clock.ms() / 1000);
      const headers = {
        [HEADERS.id]: row.id,
        [HEADERS.timestamp]: String(timestamp),
        [HEADERS.signature]: sign(secret, timestamp, body),
      };
      return await post(target, body, headers, { timeoutMs, maxResponseBytes, clock });
    } catch (e) {
      return {
        statusCode: null,
        error: (isAppError(e) ? `${e.code}: ${e.message}` : (e as Error).message).slice(0, 300),
        excerpt: null,
      };
    }
  }

  async function attempt(job: Job, row: DueDelivery | undefined): Promise<void> {
    // Finished, or deleted with its webhook: nothing is owed any more.
    if (!row) return deps.jobs.finish('webhook', job.id);
    const at = clock.now();
    if (row.expiresAt <= at.toISOString()) {
      // Sesame was down past the window: the promise was "within 24 h", so it is not sent late.
      return deps.transaction(async (r) => {
        await r.webhooks.expire(row.id, at.toISOString(), row.attempts === 0);
        await r.jobs.finish('webhook', row.id);
      });
    }
    // Another process may have taken it since the lease: only the one that claims it sends.
    if (!(await deps.jobs.claim('webhook', row.id, owner, at, LEASE_MS))) return;

    const n = row.attempts + 1;
    // The body as stored: JSON.stringify of what it decoded from gives back the same bytes.
    const result = await send(row, JSON.stringify(row.payload));
    const after = clock.now();
    const code = result.statusCode;
    const ok = code !== null && code >= 200 && code < 300;
    const error = ok
      ? null
      : (result.error ??
        (code !== null && code >= 300 && code < 400 ? `HTTP ${code}: redirects are not followed` : `HTTP ${code}`));
    const next = new Date(after.getTime() + retryDelayMs(n, random));
    const status = ok ? 'delivered' : next.toISOString() > row.expiresAt ? 'failed' : 'pending';
    await deps.transaction(async (r) => {
      const recorded = await r.webhooks.recordAttempt({
        id: newId('wha', at.getTime()),
        deliveryId: row.id,
        webhookId: row.webhookId,
        workspaceId: row.workspaceId,
        attempt: n,
        at: at.toISOString(),
        durationMs: after.getTime() - at.getTime(),
        statusCode: code,
        error,
        responseExcerpt: result.excerpt,
        status,
        finishedAt: status === 'pending' ? null : after.toISOString(),
      });
      if (recorded && status === 'pending') await r.jobs.retryAt('webhook', row.id, next, true);
      else await r.jobs.finish('webhook', row.id);
    });
    if (!ok)
      logger.warn(
        { webhookId: row.webhookId, deliveryId: row.id, attempt: n, statusCode: code, error, outcome: status },
        status === 'failed' ? 'webhook delivery failed for good' : 'webhook delivery attempt failed',
      );
  }

  /** Attempts whose process died mid-way go back on the queue, due at once. */
  async function recover(now: Date): Promise<void> {
    if (now.getTime() - recoveredAt < RECOVERY_EVERY_MS) return;
    recoveredAt = now.getTime();
    const back = await deps.transaction(async (r) => {
      const lost = await r.jobs.takeAbandoned('webhook', now);
      for (const j of lost) await r.jobs.enqueue('webhook', { id: j.id, group: j.group, runAt: now.toISOString() });
      return lost;
    });
    for (const j of back)
      logger.warn({ webhookId: j.group, deliveryId: j.id }, 'a webhook delivery attempt was cut short; trying again');
  }

  /** Send what is due now; true when there was something (more may be due). */
  async function pass(): Promise<boolean> {
    const now = clock.now();
    await recover(now);
    const jobs = await deps.jobs.lease('webhook', { owner, limit: BATCH, now, leaseMs: LEASE_MS });
    if (jobs.length === 0) return false;
    const rows = new Map((await deps.webhooks.due(jobs.map((j) => j.id))).map((r) => [r.id, r]));
    // A few at a time: one endpoint timing out must not hold up every other delivery.
    for (let i = 0; i < jobs.length; i += concurrency)
      await Promise.all(
        jobs.slice(i, i + concurrency).map((j) =>
          // A delivery whose outcome could not be recorded keeps its lease and comes back after it.
          attempt(j, rows.get(j.id)).catch((err: unknown) =>
            logger.error({ err, deliveryId: j.id }, 'recording a webhook attempt failed'),
          ),
        ),
      );
    return true;
  }

  return {
    pass,
    /** The `webhooks` loop: kicked when events enqueue deliveries; retries fall due on its beat. */
    loop: { name: 'webhooks', everyMs: BEAT_MS, pass } satisfies LoopSpec,
  };
}

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;
