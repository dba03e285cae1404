import { z } from 'zod';

/** More than any SES account sends in a day; a bound so a typo cannot store a nonsense plan. */
export const MAX_DAILY_VOLUME = 100_000_000;

const DOMAIN = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/;

/** A sending domain as plans name it: lower case, no trailing dot, no wildcard. */
export const warmupDomain = z
  .string()
  .trim()
  .toLowerCase()
  .transform((d) => d.replace(/\.$/, ''))
  .pipe(z.string().regex(DOMAIN, 'must be a domain name such as example.com'));

export const setWarmupSchema = z
  .strictObject({
    domain: warmupDomain.optional(),
    schedule: z.array(z.number().int().min(1).max(MAX_DAILY_VOLUME)).min(1).max(366).optional(),
    doublingDays: z.union([z.literal(1), z.literal(2)]).optional(),
    startVolume: z.number().int().min(1).max(1_000_000).optional(),
    /**
     * The first warmup day: an ISO date (2026-03-01) or a time with its offset, whose UTC day
     * counts. Default today. Checked as a calendar date (2026-02-30 is refused, not rolled over);
     * a time without an offset is refused rather than read in the server's time zone.
     */
    startAt: z
      .union([z.iso.date(), z.iso.datetime({ offset: true })], {
        error: 'must be an ISO-8601 date (2026-03-01) or a time with its offset (2026-03-01T09:00:00Z)',
      })
      .optional(),
  })
  .refine((b) => !(b.schedule && (b.doublingDays !== undefined || b.startVolume !== undefined)), {
    message: 'give either schedule (a custom plan) or doublingDays/startVolume (the default ramp), not both',
    path: ['schedule'],
  });

export type SetWarmupInput = z.infer<typeof setWarmupSchema>;

export const warmupScopeQuery = z.strictObject({ domain: warmupDomain.optional() });

/** A plan as the API answers it and the CLI reads it: an allow-list, like every response schema. */
export const warmupPlanView = z.object({
  id: z.string(),
  connectionId: z.string(),
  /** null: the plan covers every message of the connection. */
  domain: z.string().nullable(),
  mode: z.enum(['ramp', 'custom']),
  /** Daily volumes, step by step (the default ramp: as far as the account quota). */
  schedule: z.array(z.number()),
  startVolume: z.number().nullable(),
  doublingDays: z.number().nullable(),
  startedAt: z.string(),
  started: z.boolean(),
  /** Days since the start (0 on the first day). */
  currentDay: z.number(),
  /** Index into schedule: the day's step, behind currentDay by the days the ramp was held. */
  currentStep: z.number(),
  heldDays: z.number(),
  stepVolume: z.number(),
  accountQuota: z.number().nullable(),
  todayAllowance: z.number(),
  sentToday: z.number(),
  remainingToday: z.number(),
  /** Queued messages of this plan's scope held by warmup for a later day (the connection's plan counts those its domain plans hold too). */
  waiting: z.number(),
  /** True when the ramp did not advance today, or will not while paused. */
  held: z.boolean(),
  holdReason: z.string().nullable(),
  paused: z.boolean(),
  pausedAt: z.string().nullable(),
  rampComplete: z.boolean(),
  nextDayAt: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const warmupDeletedView = z.object({
  connectionId: z.string(),
  domain: z.string().nullable(),
  deleted: z.literal(true),
});

export type WarmupView = z.infer<typeof warmupPlanView>;
