/**
 * How long to wait before attempt `attempt` (0 = the first retry): exponential from `baseMs`,
 * capped at `capMs`. With `jitter: 'full'` the wait is a random point below that ceiling (the
 * AWS Architecture Blog's "full jitter"), so many clients retrying together spread out; `'none'`
 * gives the ceiling itself, for schedules a person reads (1 minute, 2, 4 … 6 hours).
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  jitter?: 'full' | 'none';
  random?: () => number;
}

export function backoffMs(attempt: number, o: BackoffOptions): number {
  const ceiling = Math.min(o.capMs, o.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  if (o.jitter !== 'full') return ceiling;
  // Never zero: half the base at least, so a retry storm cannot become a busy loop.
  return Math.max(o.baseMs / 2, Math.floor((o.random ?? Math.random)() * ceiling));
}
