import { NotAwsResponse, translateAwsError } from '../aws/errors.js';
import { isAppError } from '../errors.js';

/**
 * What to do with a failed SendEmail. Throttling and server errors are retried; an expired token
 * is refreshed once; a paused account pauses the connection's queue instead of burning through
 * it; a rejected message fails for good with the reason.
 */
export type Verdict =
  | { kind: 'retry'; code: string; message: string; hint: string; minDelayMs?: number }
  | { kind: 'refresh_credentials'; code: string; message: string; hint: string }
  | {
      kind: 'pause_connection';
      code: string;
      message: string;
      hint: string;
      /** SES may have the message after all: it fails with this instead of waiting to be sent again. */
      outcomeUnknown?: { code: string; message: string; hint: string };
    }
  | { kind: 'defer_quota'; code: string; message: string; hint: string }
  | { kind: 'fail'; code: string; message: string; hint: string }
  | { kind: 'unknown'; code: string; message: string; hint: string };

/** Failures that say the connection's credentials or permissions are broken: they mark its health. */
const AUTH_FAILURES = new Set([
  'aws_access_denied',
  'aws_invalid_client_token',
  'aws_signature_mismatch',
  'aws_expired_token',
  'aws_trust_policy_denied',
  'aws_secret_invalid',
]);
export const isAuthFailure = (v: Verdict): boolean => AUTH_FAILURES.has(v.code);

export function classify(e: unknown): Verdict {
  if (e instanceof NotAwsResponse) return notAws(e);
  if (isAppError(e) && e.code === 'aws_endpoint_not_aws') {
    // STS (the broker) answered by something else: a setting to fix, the same for every message.
    return { kind: 'pause_connection', code: e.code, message: e.message, hint: e.hint };
  }
  if (isAppError(e)) {
    // Credential errors from the broker: the role or keys are broken; retrying with backoff gives
    // a person time to fix them before messages fail.
    return { kind: 'retry', code: e.code, message: e.message, hint: e.hint };
  }
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  const name = err?.name ?? 'Error';
  const message = (err?.message ?? name).slice(0, 500);
  const status = err?.$metadata?.httpStatusCode;
  switch (name) {
    case 'TooManyRequestsException':
    case 'ThrottlingException':
    case 'Throttling':
      if (/daily|24.?hour|quota/i.test(message)) {
        return {
          kind: 'defer_quota',
          code: 'ses_daily_quota',
          message: `SES refused: ${message}`,
          hint: 'The account reached its 24-hour sending quota; messages wait until it frees up. Ask AWS for a higher quota if this repeats.',
        };
      }
      return {
        kind: 'retry',
        code: 'ses_throttled',
        message: `SES is throttling: ${message}`,
        hint: "Sesame retries with backoff. If this persists, the account's MaxSendRate is lower than the traffic.",
      };
    case 'ExpiredToken':
    case 'ExpiredTokenException':
      return {
        kind: 'refresh_credentials',
        code: 'aws_expired_token',
        message: `The session expired: ${message}`,
        hint: 'Sesame refreshes credentials and retries once.',
      };
    case 'AccountSendingPausedException':
    case 'SendingPausedException':
    case 'AccountSuspendedException':
      return {
        kind: 'pause_connection',
        code: 'ses_sending_paused',
        message: `SES has paused sending for this account: ${message}`,
        hint: 'Read the notice in the SES console (Reputation metrics), fix the cause, re-enable sending, then resume the connection: sesame aws resume <connection>.',
      };
    case 'InvalidSignatureException':
    case 'SignatureDoesNotMatch':
    case 'RequestTimeTooSkewed':
      // A refused signature proves SES did not take the message; the SDK corrects its clock
      // offset from the answer, so a later attempt can succeed.
      if (/expired|skew/i.test(message) || name === 'RequestTimeTooSkewed') {
        return {
          kind: 'retry',
          code: 'clock_skew',
          message: `AWS refused the request time: ${message}`,
          hint: "Sesame's host clock is off; keep it synchronised (NTP). Sesame retries with a corrected offset.",
        };
      }
      return {
        kind: 'fail',
        code: 'aws_signature_mismatch',
        message: `AWS refused the signature: ${message}`,
        hint: 'The secret access key does not match its key id; fix the connection (sesame aws test).',
      };
    case 'MessageRejected':
    case 'MessageRejectedException':
      return {
        kind: 'fail',
        code: 'ses_message_rejected',
        message: `SES rejected the message: ${message}`,
        hint: 'Check the reason: an unverified sender or, in the SES sandbox, an unverified recipient; a virus in an attachment; or an invalid header.',
      };
    case 'MailFromDomainNotVerifiedException':
      return {
        kind: 'fail',
        code: 'ses_mail_from_not_verified',
        message: `SES refused the custom MAIL FROM domain: ${message}`,
        hint: 'Publish the MAIL FROM MX and SPF records for the domain (GET /v1/domains/:id shows them) and wait for SES to verify them.',
      };
    case 'InvalidClientTokenId':
    case 'UnrecognizedClientException':
    case 'InvalidAccessKeyId':
      return {
        kind: 'fail',
        code: 'aws_invalid_client_token',
        message: `AWS does not know the access key: ${message}`,
        hint: 'The key was deleted, deactivated or mistyped; put a working key on the connection (sesame aws rotate-keys) and run sesame aws test.',
      };
    case 'AccessDenied':
    case 'AccessDeniedException':
      return {
        kind: 'fail',
        code: 'aws_access_denied',
        message: `AWS denied SendEmail: ${message}`,
        hint: 'The role or user lacks ses:SendEmail for this sender; the ses:FromAddress condition may not cover it. Compare with the Sesame template and run sesame aws test.',
      };
    case 'NotFoundException':
      // For SendEmail this is the configuration set: every message of the connection would fail.
      return {
        kind: 'pause_connection',
        code: 'ses_configuration_set_missing',
        message: `SES could not find what the message refers to: ${message}`,
        hint: "Create the connection's configuration set in SES (or clear it: PATCH /v1/connections/:id { configurationSet: null }), then resume the connection.",
      };
    case 'BadRequestException':
    case 'LimitExceededException':
      return {
        kind: 'fail',
        code: 'ses_bad_request',
        message: `SES refused the request: ${message}`,
        hint: 'The message or its configuration set is not acceptable to SES; the message says which part.',
      };
    default: {
      const sysCode = err?.code ?? '';
      // Refused before any byte was sent, or an error answer from SES: provably not accepted.
      // The SDK's connection timeout ("…without establishing a connection…"): nothing was sent.
      const neverConnected = name === 'TimeoutError' && /without establishing a connection/i.test(message);
      if (
        neverConnected ||
        (status && status >= 500) ||
        ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'InternalFailure', 'ServiceUnavailable'].includes(name) ||
        ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(sysCode)
      ) {
        return {
          kind: 'retry',
          code: 'ses_unavailable',
          message: `SES or the network failed: ${message}`,
          hint: 'Sesame retries with backoff.',
        };
      }
      // The request may have reached SES but the answer was lost: resending could deliver twice.
      if (
        ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'TimeoutError', 'RequestTimeout', 'AbortError'].includes(name) ||
        ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED'].includes(sysCode) ||
        /socket hang up/i.test(message)
      ) {
        return {
          kind: 'unknown',
          code: 'send_outcome_unknown',
          message: `The connection to SES broke after the message was sent (${name}); SES may or may not have accepted it.`,
          hint: 'Check whether the recipient got it (SES events carry the X-Sesame-Message-Id header); if not, send it again with POST /v1/emails/:id/retry.',
        };
      }
      return {
        kind: 'fail',
        code: 'ses_error',
        message: `SendEmail failed with ${name}: ${message}`,
        hint: 'See the AWS error message; fix the cause and retry the message (POST /v1/emails/:id/retry).',
      };
    }
  }
}

/**
 * A wrong endpoint is a setting to fix, not a fault to retry: the connection pauses and its
 * messages wait (none fails for a configuration mistake, none is tried eight times against the
 * wrong server). A gateway error (502, 504) may come after the gateway passed the request on, so
 * that one message may have reached SES: at most once, it fails as an unknown outcome.
 */
function notAws(e: NotAwsResponse): Verdict {
  const t = translateAwsError(e, { action: 'ses:SendEmail' });
  const verdict: Verdict = { kind: 'pause_connection', code: t.code, message: t.message, hint: t.hint };
  if (e.httpStatus === 502 || e.httpStatus === 504)
    verdict.outcomeUnknown = {
      code: 'send_outcome_unknown',
      message: `${t.message} A gateway answers so after passing a request on, so SES may or may not have accepted this message.`,
      hint: 'Check whether the recipient got it (SES events carry the X-Sesame-Message-Id header); if not, send it again with POST /v1/emails/:id/retry once the endpoint is fixed.',
    };
  return verdict;
}

/** Exponential backoff with full jitter, capped (the AWS architecture blog's recommendation). */
export function backoffMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs = 1000,
  capMs = 10 * 60_000,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.max(baseMs / 2, Math.floor(random() * ceiling));
}
