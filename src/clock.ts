/**
 * The one source of time. Nothing else reads the time or sets a timer: tests move a manual clock
 * and every timer, sleep and time-based decision follows it.
 */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): Date;
  /** Milliseconds since the epoch; the same instant as now(). */
  ms(): number;
  /**
   * Call `fn` once `ms` have passed on this clock. A `background` timer does not keep the process
   * alive by itself (a last-resort exit, say).
   */
  setTimer(ms: number, fn: () => void, opts?: { background?: boolean }): Timer;
  /** Resolve once `ms` have passed on this clock. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  ms: () => Date.now(),
  setTimer(ms, fn, opts) {
    const t = setTimeout(fn, Math.max(0, ms));
    if (opts?.background) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/** How far `clock` is ahead of the system's time, in seconds (for libraries that read the system time). */
export const systemOffsetSeconds = (clock: Clock): number => Math.round((clock.ms() - Date.now()) / 1000);

export interface ManualClock extends Clock {
  /** Move time forward, firing every timer that falls due, in time order. */
  advance(ms: number): void;
  /** Jump to an instant (forward or back); timers due by then fire. */
  set(d: Date): void;
  /** Timers not yet fired. */
  pending(): number;
}

export interface ManualClockOptions {
  /**
   * A sleep moves the clock itself instead of waiting for someone to: code that paces itself
   * (retry backoff, rate pacing) then runs through virtual time at full speed.
   */
  autoAdvanceSleeps?: boolean;
}

/** A clock tests move. */
export function manualClock(start = new Date('2026-01-01T00:00:00Z'), opts: ManualClockOptions = {}): ManualClock {
  let t = start.getTime();
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();

  function fireDue(): void {
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of timers) if (e[1].at <= t && (!next || e[1].at < next[1].at)) next = e;
      if (!next) return;
      timers.delete(next[0]);
      next[1].fn();
    }
  }

  const clock: ManualClock = {
    now: () => new Date(t),
    ms: () => t,
    setTimer(ms, fn) {
      const id = ++seq;
      timers.set(id, { at: t + Math.max(0, ms), fn });
      return { cancel: () => void timers.delete(id) };
    },
    sleep(ms) {
      if (opts.autoAdvanceSleeps) {
        clock.advance(Math.max(0, ms));
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => clock.setTimer(ms, resolve));
    },
    advance(ms) {
      t += ms;
      fireDue();
    },
    set(d) {
      t = d.getTime();
      fireDue();
    },
    pending: () => timers.size,
  };
  return clock;
}
