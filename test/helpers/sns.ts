import { createSign, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SnsMessage, stringToSign } from '../../src/aws/sns-verify.js';
import { selfSignedCertificate } from '../../src/sandbox/x509.js';

/**
 * Signs SNS messages exactly as SNS does, with a certificate of our own placed where
 * SESAME_SNS_CERT_DIR expects it (so Sesame trusts it without fetching anything).
 */
export const CERT_PATH = 'SimpleNotificationService-testing0000000000000000.pem';
export const CERT_URL = `https://sns.us-east-1.amazonaws.com/${CERT_PATH}`;

export function snsSigner() {
  const dir = mkdtempSync(join(tmpdir(), 'sns-cert-'));
  const now = Date.now();
  const { privateKeyPem: key, certificatePem } = selfSignedCertificate(
    'sns.amazonaws.com',
    new Date(now - 3_600_000),
    new Date(now + 86_400_000),
  );
  const certDir = join(dir, 'certs');
  mkdirSync(certDir);
  writeFileSync(join(certDir, CERT_PATH), certificatePem);
  return {
    certDir,
    sign(partial: Partial<SnsMessage> & { TopicArn: string; Message: string }, version: '1' | '2' = '2'): SnsMessage {
      const m = {
        Type: 'Notification',
        MessageId: randomUUID(),
        Timestamp: new Date().toISOString(),
        SignatureVersion: version,
        Signature: '',
        SigningCertURL: CERT_URL,
        ...partial,
      } as SnsMessage;
      const s = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
      s.update(stringToSign(m));
      m.Signature = s.sign(key, 'base64');
      return m;
    },
  };
}

/** An SES event record (event publishing format) for a message Sesame sent. */
export function sesEvent(
  kind: 'Bounce' | 'Complaint' | 'Delivery' | 'DeliveryDelay',
  sesMessageId: string,
  sesameMessageId: string | null,
  recipient: string,
  extra: Record<string, unknown> = {},
): string {
  const ts = new Date().toISOString();
  const mail = {
    timestamp: ts,
    source: 'app@example.com',
    messageId: sesMessageId,
    destination: [recipient],
    headers: sesameMessageId ? [{ name: 'X-Sesame-Message-Id', value: sesameMessageId }] : [],
  };
  const body: Record<string, unknown> = { eventType: kind, mail };
  if (kind === 'Bounce')
    body.bounce = {
      bounceType: 'Permanent',
      bounceSubType: 'General',
      bouncedRecipients: [{ emailAddress: recipient, status: '5.1.1' }],
      timestamp: ts,
      feedbackId: 'fb',
      ...extra,
    };
  if (kind === 'Complaint')
    body.complaint = {
      complainedRecipients: [{ emailAddress: recipient }],
      timestamp: ts,
      feedbackId: 'fb',
      complaintFeedbackType: 'abuse',
    };
  if (kind === 'Delivery')
    body.delivery = { timestamp: ts, recipients: [recipient], processingTimeMillis: 100, smtpResponse: '250 ok' };
  if (kind === 'DeliveryDelay')
    body.deliveryDelay = {
      timestamp: ts,
      delayType: 'MailboxFull',
      delayedRecipients: [{ emailAddress: recipient, status: '4.2.2' }],
    };
  return JSON.stringify(body);
}
