import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { ANALYTICS_KINDS, type AnalyticsKind, type AnalyticsRepo, type QueueCount } from '../../store/analytics.js';
import type { ConnectionsRepo } from '../../store/connections.js';
import { THRESHOLDS } from '../events/reputation.js';
import type { AnalyticsCounts, AnalyticsView } from './schemas.js';
export type { AnalyticsView } from './schemas.js';

export type Bucket = 'hour' | 'day';

export interface AnalyticsQuery {
  workspaceId: string;
  /** ISO times; `to` defaults to now, `from` to 7 days before `to`. */
  from?: string;
  to?: string;
  /** Defaults to `hour` for ranges up to 3 days, `day` beyond. */
  bucket?: Bucket;
  connectionIds?: readonly string[];
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const DEFAULT_RANGE_MS = 7 * DAY_MS;
const HOURLY_UP_TO_MS = 3 * DAY_MS;
/** Bucket counts a range may span: 31 days of hours, a leap year and a month of days. */
const MAX_BUCKETS: Record<Bucket, number> = { hour: 31 * 24, day: 400 };

/**
 * SES reviews an account at a 5 % bounce rate or a 0.1 % complaint rate and may pause its sending
 * at 10 % / 0.5 % (SES developer guide, "Reputation metrics"; see /work/shared/AWS-FACTS.md).
 */
const SES_REVIEW = { bounceRate: 0.05, complaintRate: 0.001 } as const;
const SES_PAUSE = { bounceRate: 0.1, complaintRate: 0.005 } as const;

const KEY_OF: Record<AnalyticsKind, keyof AnalyticsCounts> = {
  accepted: 'accepted',
  suppressed: 'suppressed',
  sent: 'sent',
  failed: 'failed',
  delivered: 'delivered',
  bounced_permanent: 'bouncedPermanent',
  bounced_transient: 'bouncedTransient',
  bounced_undetermined: 'bouncedUndetermined',
  complained: 'complained',
  rejected: 'rejected',
  delayed: 'delayed',
  opened: 'opened',
  clicked: 'clicked',
};

const zero = (): AnalyticsCounts => ({
  accepted: 0,
  suppressed: 0,
  sent: 0,
  failed: 0,
  delivered: 0,
  bounced: 0,
  bouncedPermanent: 0,
  bouncedTransient: 0,
  bouncedUndetermined: 0,
  complained: 0,
  rejected: 0,
  delayed: 0,
  opened: 0,
  clicked: 0,
});

function addTo(c: AnalyticsCounts, kind: AnalyticsKind, n: number): void {
  c[KEY_OF[kind]] += n;
  if (kind.startsWith('bounced_')) c.bounced += n;
}

const invalid = (field: string, message: string): AppError =>
  new AppError('validation_failed', `The request is invalid: querystring.${field}: ${message}`, {
    details: { issues: [{ path: `querystring.${field}`, message }] },
  });

/**
 * Counts and rates over time for the Overview and for scripts: read from the hourly counts the
 * writers keep (never from the messages themselves), so the cost depends on the range and the
 * number of connections, not on how many messages were sent. Buckets are UTC hours or UTC days.
 */
export function createAnalytics(deps: {
  repo: Pick<AnalyticsRepo, 'counts' | 'quotas' | 'queue'>;
  connections: Pick<ConnectionsRepo, 'list'>;
  clock: Clock;
  config: Pick<Config, 'reputationWindow' | 'reputationMinSends'>;
}) {
  const { clock } = deps;
  // The reputation guard's own lines (src/modules/events/reputation.ts), drawn beside SES's.
  const guardWarn = { bounceRate: THRESHOLDS.warnBounce, complaintRate: THRESHOLDS.warnComplaint };
  const guardPause = { bounceRate: THRESHOLDS.pauseBounce, complaintRate: THRESHOLDS.pauseComplaint };

  /** The range, aligned outwards to whole buckets. */
  function range(q: AnalyticsQuery): { from: number; to: number; bucket: Bucket } {
    const to = q.to ? Date.parse(q.to) : clock.ms();
    const from = q.from ? Date.parse(q.from) : to - DEFAULT_RANGE_MS;
    if (from >= to) throw invalid(q.from ? 'from' : 'to', 'must be before `to` (and after `from`)');
    const bucket = q.bucket ?? (to - from <= HOURLY_UP_TO_MS ? 'hour' : 'day');
    const unit = bucket === 'hour' ? HOUR_MS : DAY_MS;
    const start = Math.floor(from / unit) * unit;
    const end = Math.ceil(to / unit) * unit;
    const buckets = (end - start) / unit;
    if (buckets > MAX_BUCKETS[bucket])
      throw invalid(
        'from',
        `the range spans ${buckets} ${bucket}s; at most ${MAX_BUCKETS[bucket]} with bucket=${bucket}${bucket === 'hour' ? ' (use bucket=day)' : ''}`,
      );
    return { from: start, to: end, bucket };
  }

  function rates(c: AnalyticsCounts): AnalyticsView['rates'] {
    const bounceRate = c.sent ? c.bouncedPermanent / c.sent : null;
    const complaintRate = c.sent ? c.complained / c.sent : null;
    const over = (line: { bounceRate: number; complaintRate: number }) =>
      (bounceRate ?? 0) >= line.bounceRate || (complaintRate ?? 0) >= line.complaintRate;
    const level =
      c.sent === 0
        ? 'no_sends'
        : over(SES_PAUSE)
          ? 'ses_pause'
          : over(SES_REVIEW)
            ? 'ses_review'
            : over(guardPause)
              ? 'guard_pause'
              : over(guardWarn)
                ? 'guard_warn'
                : 'ok';
    return { sent: c.sent, bounced: c.bouncedPermanent, complained: c.complained, bounceRate, complaintRate, level };
  }
  function queueOf(rows: QueueCount[], paused: boolean, quotaSpent: boolean): AnalyticsView['queue'] {
    const q: AnalyticsView['queue'] = {
      depth: 0,
      inFlight: 0,
      due: 0,
      waiting: { warmup: 0, quota: 0, paused: 0, scheduled: 0, retry: 0 },
    };
    for (const r of rows) {
      q.depth += r.count;
      // A paused connection's messages all wait for it to be resumed, whatever else they wait for.
      if (r.state === 'in_flight') q.inFlight += r.count;
      else if (paused) q.waiting.paused += r.count;
      else if (r.state === 'due') q.due += r.count;
      // The pacer holds messages over the daily quota without marking them: the quota read says why.
      else if (r.state === 'retry' && quotaSpent) q.waiting.quota += r.count;
      else q.waiting[r.state] += r.count;
    }
    return q;
  }

  return {
    async query(q: AnalyticsQuery): Promise<AnalyticsView> {
      const r = range(q);
      const conns = await deps.connections.list(q.workspaceId);
      const byId = new Map(conns.map((c) => [c.id, c]));
      const wanted = q.connectionIds?.length ? [...new Set(q.connectionIds)] : undefined;
      for (const id of wanted ?? [])
        if (!byId.has(id)) throw invalid('connectionId', `no connection ${id} in this workspace`);

      const unit = r.bucket === 'hour' ? HOUR_MS : DAY_MS;
      const keyLength = r.bucket === 'hour' ? 13 : 10;
      const starts: string[] = [];
      for (let t = r.from; t < r.to; t += unit) starts.push(new Date(t).toISOString());
      const index = new Map(starts.map((s, i) => [s.slice(0, keyLength), i]));

      const [rows, quotas, queue] = await Promise.all([
        deps.repo.counts({
          workspaceId: q.workspaceId,
          from: new Date(r.from).toISOString(),
          to: new Date(r.to).toISOString(),
          bucket: r.bucket,
          ...(wanted ? { connectionIds: wanted } : {}),
        }),
        deps.repo.quotas(q.workspaceId),
        deps.repo.queue(q.workspaceId, clock.now().toISOString()),
      ]);

      type Acc = { totals: AnalyticsCounts; series: AnalyticsCounts[] };
      const acc = (): Acc => ({ totals: zero(), series: starts.map(zero) });
      const total = acc();
      const perConn = new Map<string, Acc>();
      for (const id of wanted ?? conns.map((c) => c.id)) perConn.set(id, acc());
      for (const row of rows) {
        const i = index.get(row.bucket);
        if (i === undefined) continue;
        let c = perConn.get(row.connectionId);
        if (!c) perConn.set(row.connectionId, (c = acc())); // a connection deleted since
        for (const kind of ANALYTICS_KINDS) {
          const n = row.counts[kind];
          if (n === 0) continue;
          for (const a of [total, c]) {
            addTo(a.totals, kind, n);
            addTo(a.series[i]!, kind, n);
          }
        }
      }

      const quotaOf = new Map(quotas.map((x) => [x.connectionId, x]));
      const queueRows = new Map<string, QueueCount[]>();
      for (const row of queue) queueRows.set(row.connectionId, [...(queueRows.get(row.connectionId) ?? []), row]);
      const connections = [...perConn.entries()].map(([id, a]) => {
        const conn = byId.get(id);
        const quota = quotaOf.get(id);
        const paused = (conn?.pausedReason ?? null) !== null;
        const spent = quota !== undefined && quota.max24HourSend >= 0 && quota.sentLast24Hours >= quota.max24HourSend;
        return {
          id,
          name: conn?.name ?? null,
          paused,
          totals: a.totals,
          rates: rates(a.totals),
          series: starts.map((start, i) => ({ start, counts: a.series[i]! })),
          quota: quota
            ? {
                maxSendRate: quota.maxSendRate,
                max24HourSend: quota.max24HourSend,
                sentLast24Hours: quota.sentLast24Hours,
                readAt: quota.readAt,
              }
            : null,
          queue: queueOf(queueRows.get(id) ?? [], paused, spent),
        };
      });
      const queueTotal = queueOf([], false, false);
      for (const c of connections) {
        queueTotal.depth += c.queue.depth;
        queueTotal.inFlight += c.queue.inFlight;
        queueTotal.due += c.queue.due;
        for (const k of Object.keys(queueTotal.waiting) as Array<keyof typeof queueTotal.waiting>)
          queueTotal.waiting[k] += c.queue.waiting[k];
      }

      return {
        from: new Date(r.from).toISOString(),
        to: new Date(r.to).toISOString(),
        bucket: r.bucket,
        timeZone: 'UTC',
        totals: total.totals,
        rates: rates(total.totals),
        series: starts.map((start, i) => ({ start, counts: total.series[i]! })),
        thresholds: {
          sesReview: SES_REVIEW,
          sesPause: SES_PAUSE,
          guardWarn,
          guardPause,
          guardWindow: deps.config.reputationWindow,
          guardMinSends: deps.config.reputationMinSends,
        },
        queue: queueTotal,
        connections,
      };
    },
  };
}

export type Analytics = ReturnType<typeof createAnalytics>;
