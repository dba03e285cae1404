import { confirmSubscription, type SnsVerifier, subscribeUrl } from '../../aws/sns-verify.js';
import type { Clock } from '../../clock.js';
import { AppError, isAppError, notFound } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Db } from '../../store/db.js';
import type { Audit } from '../audit/audit.js';
import type { SnsRefusals } from './refusals.js';

/**
 * The public SNS endpoint's logic. The signature is the authentication, so every check runs
 * before anything is stored: signature, the connection's topic allow-list, age, replay. A
 * notification is stored raw and processed off the request path.
 */
export function createSnsInbox(deps: {
  db: Db;
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
  const { db, clock } = deps;
  const confirm = deps.confirm ?? confirmSubscription;

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
      const conn = await db.selectFrom('connections').select('id').where('id', '=', connectionId).executeTakeFirst();
      if (conn) await deps.refusals.record(connectionId, e.code, topic);
    } catch (err) {
      deps.logger.error({ err, connectionId }, 'a refused SNS delivery could not be counted');
    }
  }

  async function receive(
    connectionId: string,
    body: string,
  ): Promise<{ status: 'stored' | 'confirmed' | 'unsubscribed'; messageId: string }> {
    const m = await deps.verifier.verify(body);
    const conn = await db
      .selectFrom('connections')
      .select(['id', 'workspace_id', 'sns_topic_arns'])
      .where('id', '=', connectionId)
      .executeTakeFirst();
    if (!conn) throw notFound(`Connection ${connectionId}`);
    const allowed = JSON.parse(conn.sns_topic_arns) as string[];
    if (!allowed.includes(m.TopicArn)) {
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
        workspaceId: conn.workspace_id,
        connectionId,
        actor: 'sns',
        action: 'sns.subscription_confirmed',
        details: { topicArn: m.TopicArn },
      });
      return { status: 'confirmed', messageId: m.MessageId };
    }
    const now = clock.now().toISOString();
    const inserted = await db
      .insertInto('sns_messages')
      .values({
        id: m.MessageId,
        connection_id: connectionId,
        workspace_id: conn.workspace_id,
        topic_arn: m.TopicArn,
        type: m.Type,
        body: JSON.stringify(m),
        received_at: now,
        processed_at: null,
        outcome: null,
        attempts: 0,
        next_attempt_at: now,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0)
      throw new AppError('sns_duplicate', `SNS message ${m.MessageId} was already received.`);
    if (m.Type === 'UnsubscribeConfirmation') {
      await deps.audit.record({
        workspaceId: conn.workspace_id,
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
