import { isIP } from 'node:net';
import type { Clock } from '../../clock.js';

/**
 * Failed authentications per client address, shared by the API and the SMTP relay. Once an
 * address has failed `max` times within a window that starts at its first failure, it is refused
 * until that window ends, before any key is looked up: guessing costs no database work and is
 * slowed to `max` tries per window. Successes are not counted and do not reset the count, so a
 * valid key cannot be used to launder guesses.
 *
 * In memory, per process: the budget exists to stop floods, and a restart forgetting it costs an
 * attacker's guesses nothing they could not have had anyway with keys of ~238 random bits.
 */
export function createAuthFailureLimit(deps: { clock: Clock; max: number; windowMs: number; maxTracked?: number }) {
  const { clock, max, windowMs } = deps;
  const maxTracked = deps.maxTracked ?? 100_000;
  // Insertion order is window-start order (an expired entry is deleted before it starts again),
  // so the oldest entries are always first.
  const windows = new Map<string, { start: number; count: number }>();

  const live = (key: string, now: number) => {
    const w = windows.get(key);
    if (w && now - w.start >= windowMs) {
      windows.delete(key);
      return undefined;
    }
    return w;
  };

  /** The oldest windows go first (expired ones are among them): memory stays bounded however many addresses come. */
  function makeRoom(): void {
    for (const key of windows.keys()) {
      if (windows.size < maxTracked) return;
      windows.delete(key);
    }
  }

  return {
    max,
    windowMs,
    /** Milliseconds until this address may authenticate again; 0 when it may now. */
    retryAfterMs(address: string): number {
      const now = clock.ms();
      const w = live(clientKey(address), now);
      return w && w.count >= max ? Math.max(1, w.start + windowMs - now) : 0;
    },
    /** Count a failure; `reached` is true for the one failure that reaches the limit (log it once). */
    fail(address: string): { count: number; reached: boolean } {
      const now = clock.ms();
      const key = clientKey(address);
      let w = live(key, now);
      if (!w) {
        if (windows.size >= maxTracked) makeRoom();
        w = { start: now, count: 0 };
        windows.set(key, w);
      }
      w.count += 1;
      return { count: w.count, reached: w.count === max };
    },
  };
}

export type AuthFailureLimit = ReturnType<typeof createAuthFailureLimit>;

/**
 * The bucket an address counts in: IPv4 as it is (IPv4-mapped IPv6 too), IPv6 by its /64, the
 * block a single subscriber is usually given (one host could otherwise use 2^64 addresses).
 */
export function clientKey(address: string): string {
  const a = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  if (mapped) return mapped[1]!;
  if (isIP(a) !== 6) return a;
  const [head = '', tail] = a.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  // A dotted IPv4 tail fills two groups.
  const tailLength = t.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tailLength).fill('0'), ...t];
  return `${all
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
