import { createSign, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxDeps, SnsDelivery } from './context.js';
import { snsState, type SnsSigningRecord, type SnsSubscriptionRecord, type SnsTopicRecord } from './state.js';
import { selfSignedCertificate, keyMatchesCertificate } from './x509.js';

/**
 * SNS's HTTP/S delivery, as the SNS developer guide describes it: a JSON document posted as
 * text/plain with the x-amz-sns-* headers, signed (SignatureVersion 1: SHA1withRSA, 2:
 * SHA256withRSA) over the documented fields in their documented order. The certificate's URL
 * has the shape of SNS's own, so Sesame's URL rules apply unchanged; Sesame is handed the file
 * through its certificate directory instead of fetching it.
 */
const NOTIFICATION_FIELDS = ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const;
const CONFIRMATION_FIELDS = ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'] as const;
const MAX_RECORDED_DELIVERIES = 2000;
const ATTEMPTS = 3;
const DELIVERY_TIMEOUT_MS = 15_000;

export type SnsDocument = Record<string, string>;

/** The signing key and certificate, made once per sandbox state and kept with it. */
export function signingKey(deps: Pick<SandboxDeps, 'store' | 'clock'>): SnsSigningRecord {
  const sns = snsState(deps.store.state);
  if (sns.signing && keyMatchesCertificate(sns.signing.privateKeyPem, sns.signing.certificatePem)) return sns.signing;
  const now = deps.clock.now().getTime();
  const cert = selfSignedCertificate(
    'sns.amazonaws.com',
    new Date(now - 86_400_000),
    new Date(now + 5 * 365 * 86_400_000),
  );
  sns.signing = { ...cert, certFile: `SimpleNotificationService-${randomBytes(16).toString('hex')}.pem` };
  deps.store.save();
  return sns.signing;
}

/** Leave the certificate where Sesame's SESAME_SNS_CERT_DIR points in sandbox mode. */
export function writeCertificate(signing: SnsSigningRecord, dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, signing.certFile);
  writeFileSync(path, signing.certificatePem);
  return path;
}

export const certificateUrl = (region: string, signing: SnsSigningRecord): string =>
  `https://sns.${region}.amazonaws.com/${signing.certFile}`;

function sign(
  deps: Pick<SandboxDeps, 'store' | 'clock'>,
  doc: SnsDocument,
  region: string,
  version: '1' | '2',
): SnsDocument {
  const signing = signingKey(deps);
  const fields = doc.Type === 'Notification' ? NOTIFICATION_FIELDS : CONFIRMATION_FIELDS;
  let text = '';
  for (const f of fields) if (doc[f] !== undefined) text += `${f}\n${doc[f]}\n`;
  const signature = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256')
    .update(text, 'utf8')
    .sign(signing.privateKeyPem, 'base64');
  return { ...doc, SignatureVersion: version, Signature: signature, SigningCertURL: certificateUrl(region, signing) };
}

const versionOf = (topic: SnsTopicRecord): '1' | '2' => (topic.attributes.SignatureVersion === '2' ? '2' : '1');

/** Publish to every confirmed HTTP/S subscription of a topic; returns the SNS MessageId. */
export function publish(deps: SandboxDeps, topic: SnsTopicRecord, message: string, subject?: string): string {
  const messageId = randomUUID();
  const base = deps.url() ?? 'http://127.0.0.1';
  for (const sub of Object.values(topic.subscriptions)) {
    if (!sub.confirmed) continue;
    const doc = sign(
      deps,
      {
        Type: 'Notification',
        MessageId: messageId,
        TopicArn: topic.arn,
        ...(subject !== undefined ? { Subject: subject } : {}),
        Message: message,
        Timestamp: deps.clock.now().toISOString(),
        UnsubscribeURL: `${base}/?Action=Unsubscribe&SubscriptionArn=${encodeURIComponent(sub.arn)}`,
      },
      topic.region,
      versionOf(topic),
    );
    deliver(deps, sub, doc);
  }
  return messageId;
}

/** The SubscriptionConfirmation SNS posts right after Subscribe. */
export function sendConfirmation(deps: SandboxDeps, topic: SnsTopicRecord, sub: SnsSubscriptionRecord): void {
  const base = deps.url() ?? 'http://127.0.0.1';
  const doc = sign(
    deps,
    {
      Type: 'SubscriptionConfirmation',
      MessageId: randomUUID(),
      Token: sub.token,
      TopicArn: topic.arn,
      Message: `You have chosen to subscribe to the topic ${topic.arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
      SubscribeURL: `${base}/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(topic.arn)}&Token=${sub.token}`,
      Timestamp: deps.clock.now().toISOString(),
    },
    topic.region,
    versionOf(topic),
  );
  deliver(deps, sub, doc);
}

function deliver(deps: SandboxDeps, sub: SnsSubscriptionRecord, doc: SnsDocument): void {
  const rec: SnsDelivery = {
    topicArn: sub.topicArn,
    subscriptionArn: sub.confirmed ? sub.arn : 'PendingConfirmation',
    endpoint: sub.endpoint,
    type: doc.Type as SnsDelivery['type'],
    messageId: doc.MessageId!,
    attempts: 0,
    status: null,
    at: deps.clock.now().toISOString(),
  };
  deps.snsDeliveries.push(rec);
  if (deps.snsDeliveries.length > MAX_RECORDED_DELIVERIES)
    deps.snsDeliveries.splice(0, deps.snsDeliveries.length - MAX_RECORDED_DELIVERIES);
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=UTF-8',
    'user-agent': 'Amazon Simple Notification Service Agent',
    'x-amz-sns-message-type': doc.Type!,
    'x-amz-sns-message-id': doc.MessageId!,
    'x-amz-sns-topic-arn': sub.topicArn,
    ...(sub.confirmed ? { 'x-amz-sns-subscription-arn': sub.arn } : {}),
  };
  const body = JSON.stringify(doc);
  const run = (async () => {
    // SNS retries server errors and network failures; a 4xx answer is final.
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      rec.attempts = attempt;
      try {
        const res = await fetch(sub.endpoint, {
          method: 'POST',
          headers,
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
        });
        await res.arrayBuffer().catch(() => undefined);
        rec.status = res.status;
        delete rec.error;
        if (res.status < 500 && res.status !== 429) return;
      } catch (e) {
        rec.error = e instanceof Error ? e.message : String(e);
      }
      if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, 200 * attempt).unref());
    }
  })();
  deps.snsInFlight.add(run);
  void run.finally(() => deps.snsInFlight.delete(run));
}
