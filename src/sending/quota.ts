import type { CredentialBroker } from '../aws/credentials.js';
import type { AwsGateway } from '../aws/gateway.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { WarmupGate } from '../modules/warmup/gate.js';
import type { AnalyticsRepo } from '../store/analytics.js';
import { DAILY_RECHECK_MS, Pacer, type Quota } from './pacer.js';
import type { SendConnection } from './types.js';

/** Until SES has told us the quota, assume the SES sandbox's: 1 per second, 200 a day. */
const SANDBOX_QUOTA: Quota = { maxSendRate: 1, max24HourSend: 200, sentLast24Hours: 0 };
/** After a failed quota read, try again this long before the next regular read. */
const RETRY_READ_MS = 30_000;

/**
 * One pacer per connection, with the SES quota read (read credentials) and refreshed every
 * `quotaRefreshMs`. The same read notes the quota on warmup plans and pauses the connection when
 * SES reviews or stopped the account.
 */
export function createPacers(deps: {
  clock: Clock;
  logger: Logger;
  broker: Pick<CredentialBroker, 'withCredentials'>;
  gateway: Pick<AwsGateway, 'getAccount'>;
  warmup?: Pick<WarmupGate, 'noteQuota'>;
  pause: (connectionId: string, code: string, reason: string) => Promise<void>;
  /** Keeps the last reading for the analytics (the pacer's copy lives in this process only). */
  quotas?: Pick<AnalyticsRepo, 'noteQuota'>;
  quotaRefreshMs: number;
}) {
  const { clock, logger } = deps;
  const pacers = new Map<string, Pacer>();
  const loads = new Map<string, Promise<void>>();
  let share = 1;

  async function readQuota(conn: SendConnection, pacer: Pacer): Promise<void> {
    try {
      const account = await deps.broker.withCredentials(conn.subject, 'read', (creds) =>
        deps.gateway.getAccount(creds, conn.region),
      );
      const quota = {
        maxSendRate: account.maxSendRate,
        max24HourSend: account.max24HourSend,
        sentLast24Hours: account.sentLast24Hours,
      };
      pacer.setQuota(quota, clock.ms());
      await deps.quotas
        ?.noteQuota(conn.workspaceId, { connectionId: conn.id, ...quota, readAt: clock.now().toISOString() })
        .catch((e: unknown) =>
          logger.warn({ connectionId: conn.id, err: (e as Error)?.message }, 'could not keep the quota reading'),
        );
      await deps.warmup
        ?.noteQuota(conn.id, account.max24HourSend)
        .catch((e: unknown) =>
          logger.warn(
            { connectionId: conn.id, err: (e as Error)?.message },
            'could not note the quota on warmup plans',
          ),
        );
      // SES reviewing the account (PROBATION) or stopping it: stop sending before it gets worse.
      if (
        !account.sendingEnabled ||
        account.enforcementStatus === 'SHUTDOWN' ||
        account.enforcementStatus === 'PROBATION'
      ) {
        await deps.pause(
          conn.id,
          'ses_sending_paused',
          `SES reports sending ${account.sendingEnabled ? 'enabled' : 'disabled'}, enforcement ${account.enforcementStatus}.`,
        );
      }
    } catch (e) {
      // Keep the last known quota (or the sandbox's) and try again later.
      pacer.quotaAt = clock.ms() - deps.quotaRefreshMs + RETRY_READ_MS;
      logger.warn({ connectionId: conn.id, err: (e as Error)?.message }, 'could not read the SES quota');
    }
  }

  return {
    /** The connection's pacer, its quota read first when due. */
    async pacerFor(conn: SendConnection): Promise<Pacer> {
      let p = pacers.get(conn.id);
      if (!p) {
        p = new Pacer(SANDBOX_QUOTA, 0);
        p.share = share;
        pacers.set(conn.id, p);
      }
      if (clock.ms() - p.quotaAt >= deps.quotaRefreshMs) {
        let load = loads.get(conn.id);
        if (!load) {
          load = readQuota(conn, p).finally(() => loads.delete(conn.id));
          loads.set(conn.id, load);
        }
        // Deciding on a stale quota could hold a message a whole recheck period for nothing.
        await load;
      }
      return p;
    },

    /** The daily quota SES reported, or null while the pacer only has the sandbox guess. */
    reading(p: Pacer): number | null {
      return p.quota === SANDBOX_QUOTA ? null : p.quota.max24HourSend;
    },

    /** Over the daily quota, look again when the quota is next read (at most every 15 minutes). */
    dailyRecheckMs(): number {
      return Math.min(DAILY_RECHECK_MS, deps.quotaRefreshMs);
    },

    /** How many live workers share each connection's quota. */
    setShare(n: number): void {
      share = n;
      for (const p of pacers.values()) p.share = n;
    },
  };
}

export type Pacers = ReturnType<typeof createPacers>;
