/**
 * The arithmetic of a warmup plan, with no I/O: which warmup day it is, which step of the
 * schedule that day is on, and how many recipients the day allows.
 *
 * Days are UTC calendar days (a day starts at 00:00 UTC), counted from the plan's start date.
 * UTC and not the customer's time zone because SES's own 24-hour quota and its reputation
 * dashboards do not follow any one zone either, and one rule is easier to reason about.
 */

const DAY_MS = 86_400_000;

/** Doubling beyond this adds nothing: no SES account sends 50 · 2^40 a day. */
const MAX_DOUBLINGS = 40;

export const DEFAULT_START_VOLUME = 50;
export const DEFAULT_DOUBLING_DAYS = 1;

export interface PlanShape {
  /** Custom plan: the volume of each step; the last one holds until the plan is removed. */
  schedule: number[] | null;
  /** Default ramp: startVolume, doubling every doublingDays, up to the account quota. */
  startVolume: number;
  doublingDays: number;
  startDate: string;
  heldDays: number;
}

/** YYYY-MM-DD of the UTC day `d` falls in. */
export const utcDay = (d: Date): string => d.toISOString().slice(0, 10);

/** When the UTC day after the one `d` falls in begins. */
export const nextDayStart = (d: Date): Date => new Date(Date.parse(utcDay(d)) + DAY_MS);

/** Whole days from day `a` to day `b` (both YYYY-MM-DD); negative when b is earlier. */
export const daysBetween = (a: string, b: string): number => Math.round((Date.parse(b) - Date.parse(a)) / DAY_MS);

/** Days since the plan started (0 on its first day; negative before it). */
export const dayIndex = (p: Pick<PlanShape, 'startDate'>, today: string): number => daysBetween(p.startDate, today);

/** The step a day is on: one step per day since the start, minus the days the ramp was held. */
export const stepOn = (p: Pick<PlanShape, 'startDate' | 'heldDays'>, today: string): number =>
  Math.max(0, dayIndex(p, today) - p.heldDays);

export function stepVolume(p: Pick<PlanShape, 'schedule' | 'startVolume' | 'doublingDays'>, step: number): number {
  if (p.schedule) return p.schedule[Math.min(step, p.schedule.length - 1)]!;
  return p.startVolume * 2 ** Math.min(Math.floor(step / p.doublingDays), MAX_DOUBLINGS);
}

/**
 * What a day may send: the step's volume, never more than the SES 24-hour quota (`quota` null
 * while unknown; negative means SES sets no limit).
 */
export const allowanceOf = (volume: number, quota: number | null): number =>
  quota === null || quota < 0 ? volume : Math.min(volume, quota);

/**
 * The daily volumes a plan goes through, for display. A custom plan is its list; the default ramp
 * is listed until it reaches the account quota (or, quota unknown, for its first two weeks).
 */
export function scheduleOf(
  p: Pick<PlanShape, 'schedule' | 'startVolume' | 'doublingDays'>,
  quota: number | null,
): number[] {
  if (p.schedule) return [...p.schedule];
  const out: number[] = [];
  const cap = quota === null || quota < 0 ? null : quota;
  for (let step = 0; step < 14 * p.doublingDays || cap !== null; step++) {
    const v = stepVolume(p, step);
    if (cap !== null && v >= cap) {
      out.push(cap);
      break;
    }
    out.push(v);
    if (out.length >= 400) break;
  }
  return out;
}

/** The default ramp is over once it allows the whole quota; a custom plan never ends by itself. */
export const rampComplete = (
  p: Pick<PlanShape, 'schedule' | 'startVolume' | 'doublingDays'>,
  step: number,
  quota: number | null,
): boolean => p.schedule === null && quota !== null && quota >= 0 && stepVolume(p, step) >= quota;

/**
 * The sending domain of a From value as stored (`addr@domain` or `"Name" <addr@domain>`), lower
 * case. Warmup plans match it exactly: a plan for example.com does not cover mail.example.com,
 * which mailbox providers rate as its own sender.
 */
export function domainOfFrom(from: string): string {
  const lt = from.lastIndexOf('<');
  const addr = lt >= 0 && from.endsWith('>') ? from.slice(lt + 1, -1) : from;
  return addr
    .slice(addr.lastIndexOf('@') + 1)
    .trim()
    .toLowerCase();
}
