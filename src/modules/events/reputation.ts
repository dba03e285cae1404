import type { Config } from '../../config.js';
import type { MessagesRepo } from '../../store/messages.js';

/**
 * The reputation guard: bounce and complaint rates over a connection's last sends. SES reviews an
 * account at 5 % bounces / 0.1 % complaints; Sesame warns at 2 % / 0.05 % and pauses the queue at
 * 4 % / 0.08 %, before AWS has to step in (the pause is the connections' own, audited there). Only a
 * person resumes.
 */
export const THRESHOLDS = {
  warnBounce: 0.02,
  pauseBounce: 0.04,
  warnComplaint: 0.0005,
  pauseComplaint: 0.0008,
} as const;

export interface Reputation {
  sample: number;
  bounceRate: number;
  complaintRate: number;
  level: 'ok' | 'warn' | 'pause' | 'too_few_sends';
}

export function createReputationGuard(deps: {
  messages: Pick<MessagesRepo, 'recentOutcomes'>;
  config: Pick<Config, 'reputationWindow' | 'reputationMinSends'>;
  /** Pause the connection's queue with a reason, audited there; true when this call paused it. */
  pause: (connectionId: string, code: string, reason: string) => Promise<boolean>;
  onPause?: (connectionId: string) => void;
}) {
  const { config } = deps;

  async function measure(connectionId: string): Promise<Reputation> {
    const { sample, bounced, complained } = await deps.messages.recentOutcomes(connectionId, config.reputationWindow);
    const bounceRate = sample ? bounced / sample : 0;
    const complaintRate = sample ? complained / sample : 0;
    let level: Reputation['level'] = 'ok';
    if (sample < config.reputationMinSends) level = 'too_few_sends';
    else if (bounceRate >= THRESHOLDS.pauseBounce || complaintRate >= THRESHOLDS.pauseComplaint) level = 'pause';
    else if (bounceRate >= THRESHOLDS.warnBounce || complaintRate >= THRESHOLDS.warnComplaint) level = 'warn';
    return { sample, bounceRate, complaintRate, level };
  }

  return {
    measure,
    /** After a bounce or complaint: pause the connection's queue when a rate crossed the pause line. */
    async check(connectionId: string): Promise<Reputation> {
      const r = await measure(connectionId);
      if (r.level !== 'pause') return r;
      const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
      const reason = `over the last ${r.sample} sends, bounces ${pct(r.bounceRate)} (pause at ${pct(THRESHOLDS.pauseBounce)}), complaints ${pct(r.complaintRate)} (pause at ${pct(THRESHOLDS.pauseComplaint)})`;
      if (await deps.pause(connectionId, 'reputation_guard', reason)) deps.onPause?.(connectionId);
      return r;
    },
  };
}

export type ReputationGuard = ReturnType<typeof createReputationGuard>;
