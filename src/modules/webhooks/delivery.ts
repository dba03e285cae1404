import { performance } from 'node:perf_hooks';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Envelope } from '../../crypto/envelope.js';
import { isAppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Logger } from '../../logger.js';
import type { Db } from '../../store/db.js';
import { HEADERS, sign } from './signature.js';
import { postWebhook, type PostResult, type PostWebhook } from './transport.js';
import { checkWebhookUrl, type Resolve, systemResolve } from './url-policy.js';
import { secretContext } from './webhooks.js';

/**
 * Sends due webhook deliveries off the request path. Each attempt is recorded; a failure
 * (network error, timeout, non-2xx, redirect) is retried with exponential backoff and jitter
 * until the delivery's 24-hour window closes, then the delivery is marked failed.
 */

const BASE_DELAY_MS = 30_000;
const MAX_DELAY_MS = 2 * 3600_000;
/** A claimed delivery is invisible to other passes this long; after a crash it comes back. */
const LEASE_MS = 5 * 60_000;

/**
 * Delay before attempt `attempt + 1`: doubling from 30 s up to 2 h, half of it random, so
 * endpoints recovering from an outage are not hit by every delivery in the same second.
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const d = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

interface DueRow {
  id: string;
  webhook_id: string;
  workspace_id: string;
  payload: string;
  attempts: number;
  next_attempt_at: string;
  expires_at: string;
  url: string;
  allow_private: number;
  secret_ciphertext: string;
}

export function createWebhookDelivery(deps: {
  db: Db;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, 'webhooksAllowPrivate'>;
  envelope: Pick<Envelope, 'open'>;
  resolve?: Resolve;
  post?: PostWebhook;
  options?: { timeoutMs?: number; maxResponseBytes?: number; concurrency?: number; random?: () => number };
}) {
  const { db, clock, logger } = deps;
  const resolve = deps.resolve ?? systemResolve;
  const post = deps.post ?? postWebhook;
  const timeoutMs = deps.options?.timeoutMs ?? 10_000;
  const maxResponseBytes = deps.options?.maxResponseBytes ?? 1024;
  const concurrency = deps.options?.concurrency ?? 8;
  const random = deps.options?.random ?? Math.random;
  let running: Promise<number> | undefined;

  async function send(row: DueRow): Promise<PostResult> {
    try {
      // Checked again at every attempt: the host may resolve elsewhere now, or the operator may
      // have withdrawn the private allowance since the webhook was registered.
      const target = await checkWebhookUrl(
        row.url,
        row.allow_private === 1 && deps.config.webhooksAllowPrivate,
        resolve,
      );
      const secret = deps.envelope.open(row.secret_ciphertext, secretContext(row.webhook_id));
      const timestamp = Math.floor(clock.now().getTime() / 1000);
      const headers = {
        [HEADERS.id]: row.id,
        [HEADERS.timestamp]: String(timestamp),
        [HEADERS.signature]: sign(secret, timestamp, row.payload),
      };
      return await post(target, row.payload, headers, { timeoutMs, maxResponseBytes });
    } catch (e) {
      return {
        statusCode: null,
        error: (isAppError(e) ? `${e.code}: ${e.message}` : (e as Error).message).slice(0, 300),
        excerpt: null,
      };
    }
  }

  /** False when nothing could be recorded (the store failing): the pass then stops retrying it. */
  async function attempt(row: DueRow): Promise<boolean> {
    const at = clock.now();
    if (row.expires_at <= at.toISOString()) {
      // Sesame was down past the window: the promise was "within 24 h", so it is not sent late.
      await db
        .updateTable('webhook_deliveries')
        .set({
          status: 'failed',
          finished_at: at.toISOString(),
          ...(row.attempts ? {} : { last_error: 'expired before it could be attempted' }),
        })
        .where('id', '=', row.id)
        .where('status', '=', 'pending')
        .execute();
      return true;
    }
    // Another process may have taken it since the select: only the one that moves the row on sends.
    const claimed = await db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: new Date(at.getTime() + LEASE_MS).toISOString() })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '=', row.next_attempt_at)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) return true;

    const n = row.attempts + 1;
    const started = performance.now();
    const result = await send(row);
    const durationMs = Math.round(performance.now() - started);
    const code = result.statusCode;
    const ok = code !== null && code >= 200 && code < 300;
    const error = ok
      ? null
      : (result.error ??
        (code !== null && code >= 300 && code < 400 ? `HTTP ${code}: redirects are not followed` : `HTTP ${code}`));
    const after = clock.now();
    const next = new Date(after.getTime() + retryDelayMs(n, random));
    const status = ok ? 'delivered' : next.toISOString() > row.expires_at ? 'failed' : 'pending';
    await db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('webhook_deliveries')
        .set({
          status,
          attempts: n,
          next_attempt_at: status === 'pending' ? next.toISOString() : after.toISOString(),
          last_attempt_at: at.toISOString(),
          last_status_code: code,
          last_error: error,
          finished_at: status === 'pending' ? null : after.toISOString(),
        })
        .where('id', '=', row.id)
        .executeTakeFirst();
      // Deleted with its webhook while in flight: nothing left to record against.
      if (Number(updated.numUpdatedRows) === 0) return;
      await trx
        .insertInto('webhook_attempts')
        .values({
          id: newId('wha', at.getTime()),
          delivery_id: row.id,
          webhook_id: row.webhook_id,
          workspace_id: row.workspace_id,
          attempt: n,
          at: at.toISOString(),
          duration_ms: durationMs,
          status_code: code,
          error,
          response_excerpt: result.excerpt,
        })
        .execute();
    });
    if (!ok)
      logger.warn(
        { webhookId: row.webhook_id, deliveryId: row.id, attempt: n, statusCode: code, error, outcome: status },
        status === 'failed' ? 'webhook delivery failed for good' : 'webhook delivery attempt failed',
      );
    return true;
  }

  async function pass(limit = 100): Promise<number> {
    const rows = await db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
      .select([
        'd.id',
        'd.webhook_id',
        'd.workspace_id',
        'd.payload',
        'd.attempts',
        'd.next_attempt_at',
        'd.expires_at',
        'w.url',
        'w.allow_private',
        'w.secret_ciphertext',
      ])
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', clock.now().toISOString())
      .orderBy('d.next_attempt_at')
      .limit(limit)
      .execute();
    // A few at a time: one endpoint timing out must not hold up every other delivery.
    let progressed = 0;
    for (let i = 0; i < rows.length; i += concurrency) {
      const done = await Promise.all(
        rows.slice(i, i + concurrency).map((r) =>
          attempt(r).catch((err: unknown) => {
            logger.error({ err, deliveryId: r.id }, 'recording a webhook attempt failed');
            return false;
          }),
        ),
      );
      progressed += done.filter(Boolean).length;
    }
    return progressed;
  }

  let timer: NodeJS.Timeout | undefined;
  return {
    /** Retries become due on the clock; this beat picks them up. */
    start(intervalMs = 2000): void {
      timer ??= setInterval(
        () => void this.drain().catch((err) => logger.error({ err }, 'delivering webhooks failed')),
        intervalMs,
      );
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
    /** Send what is due now; concurrent calls share one pass. */
    async drain(): Promise<number> {
      running ??= (async () => {
        let total = 0;
        for (let n = await pass(); n > 0; n = await pass()) total += n;
        return total;
      })().finally(() => {
        running = undefined;
      });
      return running;
    },
    /** New deliveries were committed: send them without waiting for the beat. */
    kick(): void {
      void this.drain().catch((err) => logger.error({ err }, 'delivering webhooks failed'));
    },
  };
}

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;
