import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * How a receiver knows a delivery came from Sesame: HMAC-SHA256, keyed with the endpoint's secret
 * (the whole `whsec_…` string as UTF-8), over `${timestamp}.${body}`. The timestamp is signed so a
 * captured delivery cannot be replayed later under a fresh timestamp.
 */
export const HEADERS = {
  id: 'Sesame-Webhook-Id',
  timestamp: 'Sesame-Webhook-Timestamp',
  signature: 'Sesame-Webhook-Signature',
} as const;

export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

/** The Sesame-Webhook-Signature value for one attempt; `timestamp` in Unix seconds. */
export function sign(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver runs (and what the tests run): the header may list several `v1=` values
 * separated by commas or spaces, so a future secret rotation can sign with two secrets at once.
 */
export function verify(
  secret: string,
  input: { body: string; timestamp: string; signature: string; nowSeconds: number; toleranceSeconds?: number },
): boolean {
  const ts = Number(input.timestamp);
  if (!Number.isInteger(ts) || Math.abs(input.nowSeconds - ts) > (input.toleranceSeconds ?? 300)) return false;
  const want = Buffer.from(sign(secret, ts, input.body));
  return input.signature.split(/[\s,]+/).some((s) => s.length === want.length && timingSafeEqual(Buffer.from(s), want));
}
