import { describe, expect, it } from 'vitest';
import {
  allowanceOf,
  dayIndex,
  domainOfFrom,
  nextDayStart,
  rampComplete,
  scheduleOf,
  stepOn,
  stepVolume,
  utcDay,
} from '../../src/modules/warmup/plan.js';

const ramp = { schedule: null, startVolume: 50, doublingDays: 1 };

describe('warmup plan arithmetic', () => {
  it('counts UTC days from the start date, minus the held ones', () => {
    expect(utcDay(new Date('2026-03-01T23:59:59.999Z'))).toBe('2026-03-01');
    expect(nextDayStart(new Date('2026-03-01T23:59:59.999Z')).toISOString()).toBe('2026-03-02T00:00:00.000Z');
    expect(nextDayStart(new Date('2026-03-02T00:00:00.000Z')).toISOString()).toBe('2026-03-03T00:00:00.000Z');
    const p = { startDate: '2026-02-27', heldDays: 1 };
    expect(dayIndex(p, '2026-03-02')).toBe(3); // across the end of February
    expect(stepOn(p, '2026-03-02')).toBe(2);
    expect(stepOn({ startDate: '2026-03-05', heldDays: 0 }, '2026-03-02')).toBe(0); // not started: the first step
  });

  it('ramps by doubling, or follows a custom list whose last step holds, never above the quota', () => {
    expect([0, 1, 2, 3].map((s) => stepVolume(ramp, s))).toEqual([50, 100, 200, 400]);
    expect([0, 1, 2, 3, 4].map((s) => stepVolume({ ...ramp, doublingDays: 2 }, s))).toEqual([50, 50, 100, 100, 200]);
    expect(Number.isFinite(stepVolume(ramp, 5000))).toBe(true);
    const custom = { schedule: [10, 30], startVolume: 10, doublingDays: 1 };
    expect([0, 1, 2, 9].map((s) => stepVolume(custom, s))).toEqual([10, 30, 30, 30]);
    expect(allowanceOf(400, 300)).toBe(300);
    expect(allowanceOf(400, null)).toBe(400);
    expect(allowanceOf(400, -1)).toBe(400);
    expect(scheduleOf(ramp, 300)).toEqual([50, 100, 200, 300]);
    expect(scheduleOf(ramp, null)).toHaveLength(14);
    expect(rampComplete(ramp, 3, 300)).toBe(true);
    expect(rampComplete(ramp, 2, 300)).toBe(false);
    expect(rampComplete(custom, 9, 5)).toBe(false);
  });

  it('reads the sending domain of a stored From value', () => {
    expect(domainOfFrom('app@Example.COM')).toBe('example.com');
    expect(domainOfFrom('"Shop @ other.com" <shop@example.com>')).toBe('example.com');
    expect(domainOfFrom('=?UTF-8?B?w6k=?= <a@mail.example.com>')).toBe('mail.example.com');
  });
});
