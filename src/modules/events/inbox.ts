import { confirmSubscription, type SnsVerifier, subscribeUrl } from '../../aws/sns-verify.js';
import type { Clock } from '../../clock.js';
import { AppError, isAppError, notFound } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { SnsMessagesRepo } from '../../store/events.js';
import type { Audit } from '../audit/audit.js';
import type { SnsRefusals } from './refusals.js';

/** What the inbox needs of a connection: its workspace and the topics it takes events from. */
export interface EventConnection {
  workspaceId: string;
  snsTopicArns: string[];
}

/**
 * The public SNS endpoint's logic. The signature is the authentication, so every check runs
 * before anything is stored: signature, the connection's topic allow-list, age, replay. A
 * notification is stored raw and processed off the request path.
 */
export function createSnsInbox(deps: {
  notifications: Pick<SnsMessagesRepo, 'insert'>;
  connection: (id: string) => Promise<EventConnection | undefined>;
  clock: Clock;
  verifier: Pick<SnsVerifier, 'verify'>;
  audit: Pick<Audit, 'record'>;
  logger: Logger;
  /** Follows a SubscribeURL (already checked to be on an SNS host). */
  confirm?: (url: URL) => Promise<void>;
  /** The SNS endpoint the operator configured (an emulator), whose SubscribeURLs are followed too. */
  snsEndpoint?: string;
  onStored?: () => void;
  /** Where refused deliveries are counted, so the connection view can say why events stopped. */
  refusals?: Pick<SnsRefusals, 'record'>;
}) {
  const { clock } = deps;
  const confirm = deps.confirm ?? ((url: URL) => confirmSubscription(url, clock));

  /**
   * SNS gets the reason in its answer and keeps none, so a refusal is logged and counted here.
   * A replay is not counted: it is SNS delivering again what was already stored.
   */
  async function refused(connectionId: string, body: string, e: unknown): Promise<void> {
    if (!isAppError(e) || e.code === 'sns_duplicate') return;
    const topic = topicOf(body);
    deps.logger.warn({ connectionId, code: e.code, topic }, 'SNS delivery refused');
    if (!deps.refusals || e.code === 'not_found') return;
    try {
      // Only for a connection that exists: anyone can post, and unknown ids would fill the table.
      if (await deps.connection(connectionId)) await deps.refusals.record(connectionId, e.code, topic);
    } catch (err) {
      deps.logger.error({ err, connectionId }, 'a refused SNS delivery could not be counted');
    }
  }

  async function receive(
    connectionId: string,
    body: string,
  ): Promise<{ status: 'stored' | 'confirmed' | 'unsubscribed'; messageId: string }> {
    const m = await deps.verifier.verify(body);
    const conn = await deps.connection(connectionId);
    if (!conn) throw notFound(`Connection ${connectionId}`);
    if (!conn.snsTopicArns.includes(m.TopicArn)) {
      throw new AppError('sns_topic_not_allowed', `Topic ${m.TopicArn} is not one of this connection's topics.`);
    }
    if (m.Type === 'SubscriptionConfirmation') {
      const url = subscribeUrl(m.SubscribeURL ?? '', deps.snsEndpoint);
      await confirm(url).catch((e: unknown) => {
        throw new AppError(
          'sns_confirmation_failed',
          `The subscription could not be confirmed: ${(e as Error).message}.`,
        );
      });
      await deps.audit.record({
        workspaceId: conn.workspaceId,
        connectionId,
        actor: 'sns',
        action: 'sns.subscription_confirmed',
        details: { topicArn: m.TopicArn },
      });
      return { status: 'confirmed', messageId: m.MessageId };
    }
    const stored = await deps.notifications.insert({
      connectionId,
      workspaceId: conn.workspaceId,
      body: m,
      receivedAt: clock.now().toISOString(),
    });
    if (!stored) throw new AppError('sns_duplicate', `SNS message ${m.MessageId} was already received.`);
    if (m.Type === 'UnsubscribeConfirmation') {
      await deps.audit.record({
        workspaceId: conn.workspaceId,
        connectionId,
        actor: 'sns',
        action: 'sns.unsubscribed',
        details: { topicArn: m.TopicArn },
      });
      return { status: 'unsubscribed', messageId: m.MessageId };
    }
    deps.onStored?.();
    return { status: 'stored', messageId: m.MessageId };
  }

  return {
    async receive(
      connectionId: string,
      body: string,
    ): Promise<{ status: 'stored' | 'confirmed' | 'unsubscribed'; messageId: string }> {
      try {
        return await receive(connectionId, body);
      } catch (e) {
        await refused(connectionId, body, e);
        throw e;
      }
    },
  };
}

/** The TopicArn a body names, signed or not (for the record of a refusal; never trusted). */
function topicOf(body: string): string | null {
  try {
    const t = (JSON.parse(body) as { TopicArn?: unknown } | null)?.TopicArn;
    return typeof t === 'string' ? t.slice(0, 256) : null;
  } catch {
    return null;
  }
}

export type SnsInbox = ReturnType<typeof createSnsInbox>;
