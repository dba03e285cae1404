import { type AppError, CATALOGUE, type ErrorCode, isAppError } from '../errors.js';
import { NotAwsResponse, translateAwsError } from './errors.js';

/** What a message records as its last error: a catalogue code, what happened, what to do. */
export interface SendError {
  code: ErrorCode;
  message: string;
  hint: string;
}

/** A message error with the catalogue's hint, unless the caller knows a more precise one. */
export function sendError(code: ErrorCode, message: string, hint?: string): SendError {
  return { code, message, hint: hint ?? CATALOGUE[code].hint };
}

/**
 * What to do with a failed SendEmail. Throttling and server errors are retried; an expired token
 * is refreshed once; a paused account pauses the connection's queue instead of burning through
 * it; a rejected message fails for good with the reason.
 */
export type SendVerdict =
  | (SendError & { kind: 'retry' })
  | (SendError & { kind: 'refresh_credentials' })
  | (SendError & {
      kind: 'pause_connection';
      /** SES may have the message after all: it fails with this instead of waiting to be sent again. */
      outcomeUnknown?: SendError;
    })
  | (SendError & { kind: 'defer_quota' })
  | (SendError & { kind: 'fail' })
  | (SendError & { kind: 'unknown' });

/** Failures that say the connection's credentials or permissions are broken: they mark its health. */
const AUTH_FAILURES = new Set<string>([
  'aws_access_denied',
  'aws_invalid_client_token',
  'aws_signature_mismatch',
  'aws_expired_token',
  'aws_trust_policy_denied',
  'aws_secret_invalid',
]);
export const isAuthFailure = (v: SendError): boolean => AUTH_FAILURES.has(v.code);

const TRANSIENT_NAMES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'InternalFailure', 'ServiceUnavailable'];
const TRANSIENT_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'];
const LOST_ANSWER_NAMES = ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'TimeoutError', 'RequestTimeout', 'AbortError'];
const LOST_ANSWER_CODES = ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED'];

/**
 * The one translation of a SendEmail failure (or of the credentials it needed) into what the
 * message records and what the sending part does next.
 */
export function classifySendError(e: unknown): SendVerdict {
  if (e instanceof NotAwsResponse) return notAws(e);
  if (isAppError(e) && e.code === 'aws_endpoint_not_aws') {
    // STS (the broker) answered by something else: a setting to fix, the same for every message.
    return { kind: 'pause_connection', code: codeOf(e), message: e.message, hint: e.hint };
  }
  if (isAppError(e)) {
    // Credential errors from the broker: the role or keys are broken; retrying with backoff gives
    // a person time to fix them before messages fail.
    return { kind: 'retry', code: codeOf(e), message: e.message, hint: e.hint };
  }
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  const name = err?.name ?? 'Error';
  const message = (err?.message ?? name).slice(0, 500);
  const status = err?.$metadata?.httpStatusCode;
  switch (name) {
    case 'TooManyRequestsException':
    case 'ThrottlingException':
    case 'Throttling':
      if (/daily|24.?hour|quota/i.test(message))
        return { kind: 'defer_quota', ...sendError('ses_daily_quota', `SES refused: ${message}`) };
      return { kind: 'retry', ...sendError('ses_throttled', `SES is throttling: ${message}`) };
    case 'ExpiredToken':
    case 'ExpiredTokenException':
      return {
        kind: 'refresh_credentials',
        ...sendError(
          'aws_expired_token',
          `The session expired: ${message}`,
          'Sesame refreshes credentials and retries once.',
        ),
      };
    case 'AccountSendingPausedException':
    case 'SendingPausedException':
    case 'AccountSuspendedException':
      return {
        kind: 'pause_connection',
        ...sendError('ses_sending_paused', `SES has paused sending for this account: ${message}`),
      };
    case 'InvalidSignatureException':
    case 'SignatureDoesNotMatch':
    case 'RequestTimeTooSkewed':
      // A refused signature proves SES did not take the message; the SDK corrects its clock
      // offset from the answer, so a later attempt can succeed.
      if (/expired|skew/i.test(message) || name === 'RequestTimeTooSkewed')
        return { kind: 'retry', ...sendError('clock_skew', `AWS refused the request time: ${message}`) };
      return {
        kind: 'fail',
        ...sendError(
          'aws_signature_mismatch',
          `AWS refused the signature: ${message}`,
          'The secret access key does not match its key id; fix the connection (sesame aws test).',
        ),
      };
    case 'MessageRejected':
    case 'MessageRejectedException':
      return { kind: 'fail', ...sendError('ses_message_rejected', `SES rejected the message: ${message}`) };
    case 'MailFromDomainNotVerifiedException':
      return {
        kind: 'fail',
        ...sendError('ses_mail_from_not_verified', `SES refused the custom MAIL FROM domain: ${message}`),
      };
    case 'InvalidClientTokenId':
    case 'UnrecognizedClientException':
    case 'InvalidAccessKeyId':
      return {
        kind: 'fail',
        ...sendError(
          'aws_invalid_client_token',
          `AWS does not know the access key: ${message}`,
          'The key was deleted, deactivated or mistyped; put a working key on the connection (sesame aws rotate-keys) and run sesame aws test.',
        ),
      };
    case 'AccessDenied':
    case 'AccessDeniedException':
      return {
        kind: 'fail',
        ...sendError(
          'aws_access_denied',
          `AWS denied SendEmail: ${message}`,
          'The role or user lacks ses:SendEmail for this sender; the ses:FromAddress condition may not cover it. Compare with the Sesame template and run sesame aws test.',
        ),
      };
    case 'NotFoundException':
      // For SendEmail this is the configuration set: every message of the connection would fail.
      return {
        kind: 'pause_connection',
        ...sendError('ses_configuration_set_missing', `SES could not find what the message refers to: ${message}`),
      };
    case 'BadRequestException':
    case 'LimitExceededException':
      return { kind: 'fail', ...sendError('ses_bad_request', `SES refused the request: ${message}`) };
    default: {
      const sysCode = err?.code ?? '';
      // Refused before any byte was sent, or an error answer from SES: provably not accepted.
      // The SDK's connection timeout ("…without establishing a connection…"): nothing was sent.
      const neverConnected = name === 'TimeoutError' && /without establishing a connection/i.test(message);
      if (
        neverConnected ||
        (status && status >= 500) ||
        TRANSIENT_NAMES.includes(name) ||
        TRANSIENT_CODES.includes(sysCode)
      )
        return { kind: 'retry', ...sendError('ses_unavailable', `SES or the network failed: ${message}`) };
      // The request may have reached SES but the answer was lost: resending could deliver twice.
      if (LOST_ANSWER_NAMES.includes(name) || LOST_ANSWER_CODES.includes(sysCode) || /socket hang up/i.test(message))
        return {
          kind: 'unknown',
          ...sendError(
            'send_outcome_unknown',
            `The connection to SES broke after the message was sent (${name}); SES may or may not have accepted it.`,
          ),
        };
      return { kind: 'fail', ...sendError('ses_error', `SendEmail failed with ${name}: ${message}`) };
    }
  }
}

/** An AppError's code as a catalogue code (every AppError is built from one). */
const codeOf = (e: AppError): ErrorCode => (e.code in CATALOGUE ? (e.code as ErrorCode) : 'aws_error');

/**
 * A wrong endpoint is a setting to fix, not a fault to retry: the connection pauses and its
 * messages wait (none fails for a configuration mistake, none is tried eight times against the
 * wrong server). A gateway error (502, 504) may come after the gateway passed the request on, so
 * that one message may have reached SES: at most once, it fails as an unknown outcome.
 */
function notAws(e: NotAwsResponse): SendVerdict {
  const t = translateAwsError(e, { action: 'ses:SendEmail' });
  const verdict: SendVerdict = { kind: 'pause_connection', code: codeOf(t), message: t.message, hint: t.hint };
  if (e.httpStatus === 502 || e.httpStatus === 504)
    verdict.outcomeUnknown = sendError(
      'send_outcome_unknown',
      `${t.message} A gateway answers so after passing a request on, so SES may or may not have accepted this message.`,
      'Check whether the recipient got it (SES events carry the X-Sesame-Message-Id header); if not, send it again with POST /v1/emails/:id/retry once the endpoint is fixed.',
    );
  return verdict;
}
