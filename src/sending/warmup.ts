import type { Logger } from '../logger.js';
import type { WarmupGate } from '../modules/warmup/gate.js';
import type { LastError } from '../store/messages.js';

export type WarmupAdmission =
  | { ok: true; release(): Promise<void> }
  | { ok: false; until: Date; hold: LastError & { hint: string; message: string } };

const OPEN: WarmupAdmission = { ok: true, release: async () => undefined };

/**
 * Today's share of the warmup plans covering a message, taken before SES is called and given back
 * whenever SES does not end up with the message. Over the allowance the message waits for the
 * start of the next warmup day: held like the daily quota, not failed, no attempt counted.
 */
export function createWarmupCheck(deps: { logger: Logger; gate?: Pick<WarmupGate, 'admit'> }) {
  const { logger, gate } = deps;
  return {
    async admit(m: {
      messageId: string;
      connectionId: string;
      from: string;
      recipients: number;
      /** The SES daily quota as read by this process, or null without a reading. */
      quota: number | null;
    }): Promise<WarmupAdmission> {
      if (!gate) return OPEN;
      const a = await gate.admit({
        connectionId: m.connectionId,
        from: m.from,
        recipients: m.recipients,
        quota: m.quota,
      });
      if (!a.ok) {
        logger.info(
          { messageId: m.messageId, connectionId: m.connectionId, until: a.until.toISOString() },
          'held by warmup plan',
        );
        return a;
      }
      return {
        ok: true,
        release: () =>
          a
            .release()
            .catch((e: unknown) =>
              logger.error({ err: e, messageId: m.messageId }, 'could not give back a warmup allowance'),
            ),
      };
    },
  };
}

export type WarmupCheck = ReturnType<typeof createWarmupCheck>;
