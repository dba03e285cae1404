import { describe, expect, it } from 'vitest';
import { createReputationGuard } from '../../src/modules/events/reputation.js';

describe('reputation guard', () => {
  const guard = (outcomes: { sample: number; bounced: number; complained: number }, pausedNow: boolean) => {
    const paused: Array<[string, string, string]> = [];
    const notified: string[] = [];
    const g = createReputationGuard({
      messages: { recentOutcomes: async () => outcomes },
      config: { reputationWindow: 1000, reputationMinSends: 20 },
      pause: async (...args) => (paused.push(args), pausedNow),
      onPause: (id) => notified.push(id),
    });
    return { g, paused, notified };
  };

  it('pauses through the one pause() with its code and the rates, and says so only when this call paused', async () => {
    const first = guard({ sample: 100, bounced: 5, complained: 0 }, true);
    expect(await first.g.check('conn_1')).toMatchObject({ level: 'pause', bounceRate: 0.05 });
    expect(first.paused).toEqual([
      [
        'conn_1',
        'reputation_guard',
        'over the last 100 sends, bounces 5.00 % (pause at 4.00 %), complaints 0.00 % (pause at 0.08 %)',
      ],
    ]);
    expect(first.notified).toEqual(['conn_1']);

    const already = guard({ sample: 100, bounced: 5, complained: 0 }, false);
    await already.g.check('conn_1');
    expect(already.paused).toHaveLength(1);
    expect(already.notified).toEqual([]);
  });

  it('does not pause below the line, nor on too few sends', async () => {
    for (const outcomes of [
      { sample: 100, bounced: 3, complained: 0 },
      { sample: 10, bounced: 5, complained: 5 },
    ]) {
      const { g, paused } = guard(outcomes, true);
      expect((await g.check('conn_1')).level).not.toBe('pause');
      expect(paused).toEqual([]);
    }
  });
});
