import type { Clock, Timer } from './clock.js';
import type { Logger } from './logger.js';

/**
 * Every background loop of a process (sending, SES events, webhook deliveries, domain checks,
 * housekeeping) runs on this one runner: a pass on a beat of the injected clock, an early pass
 * when kicked, never two passes of one loop at once. Tests call drainOnce() and await what is due
 * instead of sleeping.
 */
export interface LoopSpec {
  name: string;
  /** A pass runs this often when nothing kicks the loop sooner. */
  everyMs: number;
  /**
   * Do what is due now. Resolve true when the pass did some work: more may be due at once, so the
   * runner runs another pass straight away (and a drain goes round again).
   */
  pass(): Promise<boolean | void>;
  /** Resolves when work a pass started but did not await (sends in flight) has finished. */
  settled?(): Promise<void>;
  /** Gather kicks this long before the pass, so work arriving together is done in one batch. */
  kickDelayMs?: number;
}

export interface Loop {
  readonly name: string;
  /** Run a pass soon (after the loop's kick delay); a kick during a pass runs one more after it. */
  kick(): void;
}

export interface Runner {
  add(spec: LoopSpec): Loop;
  /** Start the beat of the named loops (all when omitted). */
  start(names?: readonly string[]): void;
  /** Stop every beat, then wait for running passes and their work to finish. */
  stop(): Promise<void>;
  /**
   * Run every loop (started or not) until none has work due now, and wait for what the passes
   * started. Time does not move: what is due later stays for a later drain.
   */
  drainOnce(): Promise<void>;
  names(): string[];
}

/** A bound on passes per loop in one drain, so a loop that always claims more cannot hang a test. */
const MAX_DRAIN_ROUNDS = 1000;

export function createRunner(deps: { clock: Clock; logger: Pick<Logger, 'error'> }): Runner {
  const { clock, logger } = deps;

  interface State {
    spec: LoopSpec;
    started: boolean;
    running: Promise<boolean> | undefined;
    again: boolean;
    beat: Timer | undefined;
    soon: Timer | undefined;
  }
  const loops = new Map<string, State>();
  let stopped = false;

  /** One pass (or the running one); a failed pass is logged and counts as "nothing more". */
  function runPass(s: State): Promise<boolean> {
    if (s.running) {
      s.again = true;
      return s.running;
    }
    const p = (async () => {
      let more = false;
      try {
        do {
          s.again = false;
          more = (await s.spec.pass()) === true;
        } while (s.again && !stopped);
      } catch (err) {
        logger.error({ err, loop: s.spec.name }, 'background pass failed');
      } finally {
        s.running = undefined;
      }
      return more;
    })();
    s.running = p;
    return p;
  }

  function schedule(s: State, ms: number): void {
    if (stopped || !s.started) return;
    s.beat?.cancel();
    s.beat = clock.setTimer(ms, () => {
      s.beat = undefined;
      void runPass(s).then((more) => schedule(s, more ? 0 : s.spec.everyMs));
    });
  }

  return {
    add(spec) {
      if (loops.has(spec.name)) throw new Error(`loop ${spec.name} is already registered`);
      const s: State = { spec, started: false, running: undefined, again: false, beat: undefined, soon: undefined };
      loops.set(spec.name, s);
      return {
        name: spec.name,
        kick() {
          if (stopped || !s.started) return;
          if (s.running) {
            s.again = true;
            return;
          }
          s.soon ??= clock.setTimer(spec.kickDelayMs ?? 0, () => {
            s.soon = undefined;
            void runPass(s).then((more) => {
              if (more) schedule(s, 0);
            });
          });
        },
      };
    },

    start(names) {
      stopped = false;
      for (const s of loops.values()) {
        if (s.started || (names && !names.includes(s.spec.name))) continue;
        s.started = true;
        schedule(s, 0);
      }
    },

    async stop() {
      stopped = true;
      for (const s of loops.values()) {
        s.beat?.cancel();
        s.soon?.cancel();
        s.beat = s.soon = undefined;
        s.started = false;
      }
      for (const s of loops.values()) {
        await s.running;
        await s.spec.settled?.();
      }
    },

    async drainOnce() {
      for (let round = 0; round < MAX_DRAIN_ROUNDS; round++) {
        let more = false;
        for (const s of loops.values()) {
          if (await runPass(s)) more = true;
          await s.spec.settled?.();
        }
        if (!more) return;
      }
      throw new Error(`background loops still had work after ${MAX_DRAIN_ROUNDS} rounds`);
    },

    names: () => [...loops.keys()],
  };
}
