import { createVerify, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';

/**
 * Verification of Amazon SNS messages posted to an HTTPS endpoint (AWS docs: "Verifying the
 * signatures of Amazon SNS messages"). The signature is the only authentication such a post has.
 */
export type SnsMessageType = 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';

export interface SnsMessage {
  Type: SnsMessageType;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: '1' | '2';
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
  UnsubscribeURL?: string;
}

/** Keys signed, in this order, per message type (each present key as `Key\nValue\n`). */
const SIGNED_KEYS: Record<SnsMessageType, Array<keyof SnsMessage>> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

export function stringToSign(m: SnsMessage): string {
  let out = '';
  for (const key of SIGNED_KEYS[m.Type]) {
    const value = m[key];
    if (value === undefined) continue;
    out += `${key}\n${value}\n`;
  }
  return out;
}

/**
 * SNS signs with certificates served from its own regional endpoint only. Anything else (another
 * AWS host, another scheme or port, credentials in the URL, a path that is not a .pem file) is
 * refused before any request is made. Against an emulator, the SNS endpoint the operator
 * configured (AWS_ENDPOINT_URL_SNS / AWS_ENDPOINT_URL) may serve it too, the same rule as for
 * SubscribeURLs: exactly that origin, never another host.
 */
const CERT_HOST = /^sns\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com(\.cn)?$/;

export function checkCertUrl(raw: string, configuredEndpoint?: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError('sns_cert_url_invalid', 'SigningCertURL is not a URL.');
  }
  const host = onConfiguredEndpoint(url, configuredEndpoint)
    ? true
    : url.protocol === 'https:' && url.port === '' && CERT_HOST.test(url.hostname);
  if (
    !host ||
    url.username !== '' ||
    url.password !== '' ||
    !/^\/[\w./-]+\.pem$/.test(url.pathname) ||
    url.pathname.includes('..') ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new AppError(
      'sns_cert_url_invalid',
      `SigningCertURL ${raw.slice(0, 200)} is not an Amazon SNS signing certificate URL.`,
    );
  }
  return url;
}

/** The URL is on the SNS endpoint the operator configured (an emulator), with no credentials in it. */
function onConfiguredEndpoint(url: URL, configuredEndpoint: string | undefined): boolean {
  if (configuredEndpoint === undefined || url.username || url.password) return false;
  try {
    return url.origin === new URL(configuredEndpoint).origin;
  } catch {
    return false;
  }
}

const MAX_CERT_BYTES = 16 * 1024;
/** How long a certificate fetch or a subscription confirmation may take. */
const FETCH_TIMEOUT_MS = 5000;

/** A signal that aborts once `ms` have passed on `clock`; release() drops the timer when done first. */
function timeoutSignal(clock: Pick<Clock, 'setTimer'>, ms: number): { signal: AbortSignal; release(): void } {
  const ac = new AbortController();
  const timer = clock.setTimer(ms, () => ac.abort(new Error(`timed out after ${ms} ms`)));
  return { signal: ac.signal, release: () => timer.cancel() };
}

export interface SnsVerifierOptions {
  clock: Clock;
  /** Older messages are refused (replays); SNS retries for up to an hour by default. */
  maxAgeSeconds: number;
  /** Preloaded certificates, named as the URL path (air-gapped installs, tests): then nothing is fetched from AWS. */
  certDir?: string;
  /** The SNS endpoint the operator configured (an emulator), whose certificates are fetched from it. */
  snsEndpoint?: string;
  fetchCert?: (url: URL) => Promise<string>;
}

/** Messages dated further ahead than this are refused: SNS stamps them when it sends them. */
export const MAX_FUTURE_MS = 5 * 60_000;
/** A certificate that could not be loaded is not tried again for its URL within this time. */
export const CERT_FAILURE_TTL_MS = 60_000;
const MAX_CERT_FAILURES_KEPT = 1000;
const MAX_CERTS_KEPT = 100;

export function createSnsVerifier(opts: SnsVerifierOptions) {
  const cache = new Map<string, Promise<X509Certificate>>();
  // Failed loads by URL: a flood of messages naming a missing certificate is not a flood of fetches.
  const failed = new Map<string, { until: number; reason: string }>();

  const fetchCert =
    opts.fetchCert ??
    (async (url: URL): Promise<string> => {
      const deadline = timeoutSignal(opts.clock, FETCH_TIMEOUT_MS);
      try {
        const res = await fetch(url, { redirect: 'error', signal: deadline.signal });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const body = await res.text();
        if (body.length > MAX_CERT_BYTES) throw new Error('certificate too large');
        return body;
      } finally {
        deadline.release();
      }
    });

  const unavailable = (reason: string) =>
    new AppError('sns_cert_unavailable', `The SNS signing certificate could not be loaded: ${reason}.`);

  async function loadCert(url: URL): Promise<X509Certificate> {
    const key = url.toString();
    const now = opts.clock.now().getTime();
    const miss = failed.get(key);
    if (miss && now < miss.until) throw unavailable(miss.reason);
    if (miss) failed.delete(key);
    let pending = cache.get(key);
    if (!pending) {
      const fromEndpoint = onConfiguredEndpoint(url, opts.snsEndpoint);
      pending = (async () => {
        const pem =
          opts.certDir && !fromEndpoint
            ? await readFile(join(opts.certDir, url.pathname.replace(/^\/+/, '')), 'utf8')
            : await fetchCert(url);
        return new X509Certificate(pem);
      })();
      // SNS signs with a handful of certificates; an emulator may name a new URL per message.
      if (cache.size >= MAX_CERTS_KEPT) cache.delete(cache.keys().next().value!);
      cache.set(key, pending);
      pending.catch((e: unknown) => {
        cache.delete(key);
        if (failed.size >= MAX_CERT_FAILURES_KEPT) failed.delete(failed.keys().next().value!);
        failed.set(key, { until: opts.clock.now().getTime() + CERT_FAILURE_TTL_MS, reason: (e as Error).message });
      });
    }
    try {
      return await pending;
    } catch (e) {
      throw unavailable((e as Error).message);
    }
  }

  return {
    /** Parse and verify; throws an AppError (4xx) at the first failure. */
    async verify(input: unknown): Promise<SnsMessage> {
      const m = parse(input);
      const url = checkCertUrl(m.SigningCertURL, opts.snsEndpoint);
      const age = opts.clock.now().getTime() - Date.parse(m.Timestamp);
      if (Number.isNaN(age)) throw new AppError('sns_invalid', 'Timestamp is not a time.');
      if (-age > MAX_FUTURE_MS)
        throw new AppError(
          'sns_future',
          `The message is dated ${Math.round(-age / 1000)} s ahead of this server's clock; more than ${MAX_FUTURE_MS / 1000} s ahead is refused.`,
        );
      if (age > opts.maxAgeSeconds * 1000)
        throw new AppError(
          'sns_stale',
          `The message is ${Math.round(age / 1000)} s old; messages older than ${opts.maxAgeSeconds} s are refused.`,
        );
      const cert = await loadCert(url);
      const t = opts.clock.now().getTime();
      // Five minutes of slack for clocks that disagree about a freshly rotated certificate.
      if (t < Date.parse(cert.validFrom) - 300_000 || t > Date.parse(cert.validTo)) {
        cache.delete(url.toString()); // SNS rotates certificates: fetch again next time
        throw new AppError('sns_cert_expired', 'The SNS signing certificate is not valid at this time.');
      }
      const verifier = createVerify(m.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
      verifier.update(stringToSign(m), 'utf8');
      if (!verifier.verify(cert.publicKey, m.Signature, 'base64'))
        throw new AppError('sns_signature_invalid', 'The SNS signature does not match the message.');
      return m;
    },
  };
}

export type SnsVerifier = ReturnType<typeof createSnsVerifier>;

function parse(input: unknown): SnsMessage {
  let o: unknown = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      o = JSON.parse(String(input));
    } catch {
      throw new AppError('sns_invalid', 'The body is not JSON.');
    }
  }
  if (!o || typeof o !== 'object' || Array.isArray(o))
    throw new AppError('sns_invalid', 'The body is not an SNS message.');
  const r = o as Record<string, unknown>;
  const type = r.Type;
  if (type !== 'Notification' && type !== 'SubscriptionConfirmation' && type !== 'UnsubscribeConfirmation')
    throw new AppError('sns_invalid', 'Type is not an SNS message type.');
  const required = [
    'MessageId',
    'TopicArn',
    'Message',
    'Timestamp',
    'Signature',
    'SigningCertURL',
    'SignatureVersion',
    ...(type === 'Notification' ? [] : ['SubscribeURL', 'Token']),
  ];
  for (const k of required) if (typeof r[k] !== 'string') throw new AppError('sns_invalid', `${k} is missing.`);
  if (r.SignatureVersion !== '1' && r.SignatureVersion !== '2')
    throw new AppError('sns_invalid', 'SignatureVersion must be 1 or 2.');
  for (const k of ['Subject', 'UnsubscribeURL'])
    if (r[k] !== undefined && typeof r[k] !== 'string') throw new AppError('sns_invalid', `${k} is not a string.`);
  return r as unknown as SnsMessage;
}

/**
 * A SubscribeURL is followed only when it is SNS's own ConfirmSubscription action on an SNS
 * host, or on the SNS endpoint the operator configured (AWS_ENDPOINT_URL_SNS: an emulator).
 */
export function subscribeUrl(raw: string, configuredEndpoint?: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError('sns_subscribe_url_invalid', 'SubscribeURL is not a URL.');
  }
  const configured =
    configuredEndpoint !== undefined &&
    !url.username &&
    !url.password &&
    url.origin === new URL(configuredEndpoint).origin;
  if (!configured) {
    try {
      // Same host rules as the signing certificate, with the action instead of a .pem path.
      checkCertUrl(`${url.protocol}//${url.username ? `${url.username}@` : ''}${url.host}/x.pem`);
    } catch {
      throw new AppError(
        'sns_subscribe_url_invalid',
        `SubscribeURL host ${url.host.slice(0, 100)} is not an Amazon SNS endpoint.`,
      );
    }
  }
  if (url.pathname !== '/' || url.searchParams.get('Action') !== 'ConfirmSubscription')
    throw new AppError('sns_subscribe_url_invalid', 'SubscribeURL is not a ConfirmSubscription action.');
  return url;
}

/** Confirm a subscription by following its (checked) SubscribeURL, as SNS expects. */
export async function confirmSubscription(url: URL, clock: Pick<Clock, 'setTimer'>): Promise<void> {
  const deadline = timeoutSignal(clock, FETCH_TIMEOUT_MS);
  try {
    const res = await fetch(url, { redirect: 'error', signal: deadline.signal });
    if (!res.ok) throw new Error(`SNS answered ${res.status}`);
  } finally {
    deadline.release();
  }
}
