import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../store/db.js';
import type { Audit } from '../audit/audit.js';

/**
 * The reputation guard: bounce and complaint rates over a connection's last sends. SES reviews an
 * account at 5 % bounces / 0.1 % complaints; Sesame warns at 2 % / 0.05 % and pauses the queue at
 * 4 % / 0.08 %, before AWS has to step in. Only a person resumes.
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
  db: Db;
  clock: Clock;
  audit: Pick<Audit, 'record'>;
  config: Pick<Config, 'reputationWindow' | 'reputationMinSends'>;
  onPause?: (connectionId: string) => void;
}) {
  const { db, config } = deps;

  async function measure(connectionId: string): Promise<Reputation> {
    const recent = db
      .selectFrom('messages')
      .select('status')
      .where('connection_id', '=', connectionId)
      .where('sent_at', 'is not', null)
      .orderBy('sent_at', 'desc')
      .limit(config.reputationWindow);
    const rows = await db
      .selectFrom(recent.as('recent'))
      .select((eb) => [
        eb.fn.countAll<number>().as('sample'),
        eb.fn.sum<number>(eb.case().when('status', '=', 'bounced').then(1).else(0).end()).as('bounced'),
        eb.fn.sum<number>(eb.case().when('status', '=', 'complained').then(1).else(0).end()).as('complained'),
      ])
      .executeTakeFirstOrThrow();
    const sample = Number(rows.sample);
    const bounceRate = sample ? Number(rows.bounced ?? 0) / sample : 0;
    const complaintRate = sample ? Number(rows.complained ?? 0) / sample : 0;
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
      const reason = `reputation_guard: over the last ${r.sample} sends, bounces ${pct(r.bounceRate)} (pause at ${pct(THRESHOLDS.pauseBounce)}), complaints ${pct(r.complaintRate)} (pause at ${pct(THRESHOLDS.pauseComplaint)})`;
      const res = await db
        .updateTable('connections')
        .set({ paused_reason: reason, paused_at: deps.clock.now().toISOString() })
        .where('id', '=', connectionId)
        .where('paused_reason', 'is', null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) > 0) {
        deps.onPause?.(connectionId);
        const conn = await db
          .selectFrom('connections')
          .select('workspace_id')
          .where('id', '=', connectionId)
          .executeTakeFirst();
        await deps.audit.record({
          workspaceId: conn?.workspace_id ?? null,
          connectionId,
          actor: 'system',
          action: 'connection.paused',
          outcome: 'reputation_guard',
          details: { reason, sample: r.sample, bounceRate: r.bounceRate, complaintRate: r.complaintRate },
        });
      }
      return r;
    },
  };
}

export type ReputationGuard = ReturnType<typeof createReputationGuard>;
