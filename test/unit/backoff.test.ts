import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/backoff.js';

describe('backoff', () => {
  it('doubles from the base up to the cap', () => {
    const o = { baseMs: 60_000, capMs: 6 * 3_600_000 };
    expect([0, 1, 2, 3, 8, 9, 50].map((a) => backoffMs(a, o))).toEqual([
      60_000,
      120_000,
      240_000,
      480_000,
      15_360_000,
      6 * 3_600_000,
      6 * 3_600_000,
    ]);
  });

  it('with full jitter, waits a random time below the ceiling, never less than half the base', () => {
    const o = { baseMs: 1000, capMs: 600_000, jitter: 'full' as const };
    expect(backoffMs(3, { ...o, random: () => 0.999 })).toBe(7992);
    expect(backoffMs(3, { ...o, random: () => 0 })).toBe(500);
    expect(backoffMs(40, { ...o, random: () => 0.5 })).toBe(300_000);
  });
});
