import { z } from 'zod';

/** Counts of one bucket (or of the whole range): what Sesame did, then what SES reported. */
export const analyticsCounts = z.object({
  accepted: z.number(),
  suppressed: z.number(),
  sent: z.number(),
  failed: z.number(),
  delivered: z.number(),
  bounced: z.number(),
  bouncedPermanent: z.number(),
  bouncedTransient: z.number(),
  bouncedUndetermined: z.number(),
  complained: z.number(),
  rejected: z.number(),
  delayed: z.number(),
  opened: z.number(),
  clicked: z.number(),
});
export type AnalyticsCounts = z.infer<typeof analyticsCounts>;

const rateLevel = z.enum(['no_sends', 'ok', 'guard_warn', 'guard_pause', 'ses_review', 'ses_pause']);

/** Bounce and complaint rates over the range: permanent bounces and complaints per message sent. */
export const analyticsRates = z.object({
  sent: z.number(),
  bounced: z.number(),
  complained: z.number(),
  /** null without sends in the range. */
  bounceRate: z.number().nullable(),
  complaintRate: z.number().nullable(),
  /** The highest line a rate reached. */
  level: rateLevel,
});

const rateLine = z.object({ bounceRate: z.number(), complaintRate: z.number() });

const queueCounts = z.object({
  /** Send jobs not finished. */
  depth: z.number(),
  inFlight: z.number(),
  /** Due now, waiting only for a worker. */
  due: z.number(),
  waiting: z.object({
    warmup: z.number(),
    quota: z.number(),
    paused: z.number(),
    scheduled: z.number(),
    retry: z.number(),
  }),
});

const series = z.array(z.object({ start: z.string(), counts: analyticsCounts }));

export const analyticsView = z.object({
  from: z.string(),
  to: z.string(),
  bucket: z.enum(['hour', 'day']),
  timeZone: z.literal('UTC'),
  totals: analyticsCounts,
  rates: analyticsRates,
  series,
  thresholds: z.object({
    sesReview: rateLine,
    sesPause: rateLine,
    guardWarn: rateLine,
    guardPause: rateLine,
    /** The guard weighs a connection's last `window` sends, once it has `minSends`. */
    guardWindow: z.number(),
    guardMinSends: z.number(),
  }),
  queue: queueCounts,
  connections: z.array(
    z.object({
      id: z.string(),
      /** null for a connection deleted since. */
      name: z.string().nullable(),
      paused: z.boolean(),
      totals: analyticsCounts,
      rates: analyticsRates,
      series,
      quota: z
        .object({
          maxSendRate: z.number(),
          max24HourSend: z.number(),
          sentLast24Hours: z.number(),
          readAt: z.string(),
        })
        .nullable(),
      queue: queueCounts,
    }),
  ),
});
export type AnalyticsView = z.infer<typeof analyticsView>;
