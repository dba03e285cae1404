import { describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { createRunner } from '../../src/runner.js';

const quietLogger = () => {
  const errors: unknown[] = [];
  return { errors, logger: { error: (o: unknown) => void errors.push(o) } };
};

/** Let promise callbacks run (passes are async) without moving time. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('manual clock', () => {
  it('fires timers in time order as it moves, and only those due', () => {
    const clock = manualClock(new Date('2026-01-01T00:00:00Z'));
    const fired: string[] = [];
    clock.setTimer(300, () => fired.push('c'));
    clock.setTimer(100, () => fired.push('a'));
    const b = clock.setTimer(200, () => fired.push('b'));
    b.cancel();
    clock.advance(250);
    expect(fired).toEqual(['a']);
    expect(clock.pending()).toBe(1);
    clock.advance(50);
    expect(fired).toEqual(['a', 'c']);
    expect(clock.now().toISOString()).toBe('2026-01-01T00:00:00.300Z');
  });

  it('resolves a sleep when time reaches it, or at once when sleeps move the clock', async () => {
    const clock = manualClock();
    let woke = false;
    const s = clock.sleep(1000).then(() => (woke = true));
    await settle();
    expect(woke).toBe(false);
    clock.advance(1000);
    await s;
    expect(woke).toBe(true);

    const auto = manualClock(new Date(0), { autoAdvanceSleeps: true });
    await auto.sleep(5000);
    expect(auto.ms()).toBe(5000);
  });
});

describe('runner', () => {
  it('runs a pass on every beat of the clock, and never before it is started', async () => {
    const clock = manualClock();
    const { logger } = quietLogger();
    const runner = createRunner({ clock, logger });
    let passes = 0;
    runner.add({ name: 'beat', everyMs: 1000, pass: async () => void passes++ });
    clock.advance(5000);
    await settle();
    expect(passes).toBe(0);
    runner.start();
    clock.advance(0);
    await settle();
    expect(passes).toBe(1);
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      await settle();
    }
    expect(passes).toBe(4);
    await runner.stop();
    clock.advance(10_000);
    await settle();
    expect(passes).toBe(4);
  });

  it('a kick runs a pass before the beat; kicks during a pass run exactly one more after it', async () => {
    const clock = manualClock();
    const runner = createRunner({ clock, logger: quietLogger().logger });
    let passes = 0;
    let release: (() => void) | undefined;
    const loop = runner.add({
      name: 'kicked',
      everyMs: 60_000,
      pass: async () => {
        passes++;
        if (passes === 2) await new Promise<void>((r) => (release = r));
      },
    });
    runner.start();
    clock.advance(0);
    await settle();
    expect(passes).toBe(1);
    loop.kick();
    clock.advance(0);
    await settle();
    expect(passes).toBe(2); // blocked inside the second pass
    loop.kick();
    loop.kick();
    loop.kick();
    release!();
    await settle();
    expect(passes).toBe(3);
    await runner.stop();
  });

  it('drainOnce runs every loop until none did work, and waits for work a pass left running', async () => {
    const clock = manualClock();
    const runner = createRunner({ clock, logger: quietLogger().logger });
    const queue = [1, 2, 3, 4, 5];
    const handed: number[] = [];
    const done: number[] = [];
    let inFlight: Promise<void>[] = [];
    runner.add({
      name: 'producer',
      everyMs: 1000,
      pass: async () => {
        const batch = queue.splice(0, 2);
        for (const n of batch) {
          handed.push(n);
          inFlight.push(Promise.resolve().then(() => void done.push(n)));
        }
        return batch.length > 0;
      },
      settled: async () => {
        const all = inFlight;
        inFlight = [];
        await Promise.all(all);
      },
    });
    await runner.drainOnce();
    expect(handed).toEqual([1, 2, 3, 4, 5]);
    expect(done).toEqual([1, 2, 3, 4, 5]);
  });

  it('a failing pass is logged and the loop keeps its beat', async () => {
    const clock = manualClock();
    const { logger, errors } = quietLogger();
    const runner = createRunner({ clock, logger });
    let passes = 0;
    runner.add({
      name: 'flaky',
      everyMs: 1000,
      pass: async () => {
        passes++;
        if (passes === 1) throw new Error('database is busy');
      },
    });
    runner.start();
    clock.advance(0);
    await settle();
    clock.advance(1000);
    await settle();
    expect(passes).toBe(2);
    expect(errors).toHaveLength(1);
    await runner.stop();
  });
});
