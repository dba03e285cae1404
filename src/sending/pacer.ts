/**
 * Per-connection pacing to the SES account's quota, which SES counts in recipients:
 * at most MaxSendRate recipients in any one-second window (a sliding window, not a token bucket,
 * so no burst can exceed the rate over any second), and no more than Max24HourSend minus
 * SentLast24Hours in a day — messages over it wait, they are not failed.
 */
export interface Quota {
  maxSendRate: number;
  max24HourSend: number;
  sentLast24Hours: number;
}

export type Take = { ok: true } | { ok: false; waitMs: number; reason: 'rate' | 'daily' };

/** While the daily quota is used up, look again this often. */
export const DAILY_RECHECK_MS = 15 * 60_000;

/**
 * SES measures the rate when requests arrive; a small guard on the window absorbs the jitter
 * between taking a slot here and the request reaching SES.
 */
export const WINDOW_MS = 1100;

export class Pacer {
  private window: Array<{ t: number; n: number }> = [];
  private inWindow = 0;
  private sentSinceQuota = 0;
  quota: Quota;
  quotaAt = 0;
  /** How many live workers share the quota (each takes its part). */
  share = 1;

  constructor(quota: Quota, at: number) {
    this.quota = quota;
    this.quotaAt = at;
  }

  setQuota(q: Quota, at: number): void {
    this.quota = q;
    this.quotaAt = at;
    this.sentSinceQuota = 0;
  }

  tryTake(n: number, now: number): Take {
    while (this.window.length && this.window[0]!.t <= now - WINDOW_MS) this.inWindow -= this.window.shift()!.n;
    const share = Math.max(1, this.share);
    const dailyLeft =
      this.quota.max24HourSend < 0
        ? Infinity
        : (this.quota.max24HourSend - this.quota.sentLast24Hours) / share - this.sentSinceQuota;
    if (n > dailyLeft) return { ok: false, waitMs: DAILY_RECHECK_MS, reason: 'daily' };
    const rate = Math.max(this.quota.maxSendRate / share, 0.0001);
    if (this.inWindow > 0 && this.inWindow + n > rate) {
      let freed = 0;
      let wait = 1;
      for (const e of this.window) {
        freed += e.n;
        wait = e.t + WINDOW_MS - now;
        if (this.inWindow - freed + n <= rate) break;
      }
      return { ok: false, waitMs: Math.max(1, wait), reason: 'rate' };
    }
    // More recipients than one window allows: the message goes alone and holds the windows after
    // it, as if its recipients had been sent at the rate.
    for (let k = 0, left = n; left > 0; k++) {
      const part = Math.min(rate, left);
      this.window.push({ t: now + k * WINDOW_MS, n: part });
      this.inWindow += part;
      left -= part;
    }
    this.sentSinceQuota += n;
    return { ok: true };
  }

  /** Give back what a send that never reached SES took. */
  refund(n: number): void {
    this.sentSinceQuota = Math.max(0, this.sentSinceQuota - n);
  }
}
