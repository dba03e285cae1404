import { AppError, type ErrorCode } from '../errors.js';

/** What was being attempted, so a translated error can say it. */
export interface AwsErrorContext {
  action: string; // e.g. 'sts:AssumeRole'
  region?: string;
  roleArn?: string;
}

interface SdkErrorLike {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const CODES: Record<string, ErrorCode> = {
  InvalidClientTokenId: 'aws_invalid_client_token',
  UnrecognizedClientException: 'aws_invalid_client_token',
  InvalidAccessKeyId: 'aws_invalid_client_token',
  SignatureDoesNotMatch: 'aws_signature_mismatch',
  InvalidSignatureException: 'aws_signature_mismatch',
  InvalidToken: 'aws_invalid_client_token',
  IncompleteSignature: 'aws_signature_mismatch',
  AccessDenied: 'aws_access_denied',
  AccessDeniedException: 'aws_access_denied',
  // SNS says AuthorizationError on the wire; the SDK names it AuthorizationErrorException.
  AuthorizationError: 'aws_access_denied',
  AuthorizationErrorException: 'aws_access_denied',
  ExpiredToken: 'aws_expired_token',
  ExpiredTokenException: 'aws_expired_token',
  RequestExpired: 'aws_expired_token',
  RegionDisabledException: 'aws_region_disabled',
  Throttling: 'aws_throttled',
  ThrottlingException: 'aws_throttled',
  TooManyRequestsException: 'aws_throttled',
  ValidationError: 'aws_validation',
  ValidationException: 'aws_validation',
  BadRequestException: 'aws_validation',
  CredentialsProviderError: 'aws_no_credentials',
};

const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'TimeoutError']);

/** The AWS error name (`AccessDenied`, …) of an SDK error, or undefined. */
export function awsErrorName(e: unknown): string | undefined {
  const err = e as SdkErrorLike | undefined;
  return err?.name ?? err?.code;
}

/**
 * Translate an SDK error into an AppError with a fix a person can act on.
 * AWS messages are kept (they name the resource) but never carry secrets.
 */
export function translateAwsError(e: unknown, ctx: AwsErrorContext): AppError {
  if (e instanceof AppError) return e;
  const err = (e ?? {}) as SdkErrorLike;
  const name = awsErrorName(e) ?? 'Error';
  const awsMessage = (err.message ?? '').slice(0, 500);
  const details = {
    awsCode: name,
    action: ctx.action,
    ...(ctx.region ? { region: ctx.region } : {}),
    ...(err.$metadata?.requestId ? { awsRequestId: err.$metadata.requestId } : {}),
  };

  if (NETWORK.has(name) || NETWORK.has((e as { code?: string })?.code ?? '')) {
    return new AppError('aws_unreachable', `${ctx.action} could not reach AWS: ${awsMessage || name}.`, { details });
  }
  if (name === 'AccessDenied' && ctx.action === 'sts:AssumeRole') {
    return new AppError(
      'aws_trust_policy_denied',
      `AWS refused to let Sesame assume ${ctx.roleArn ?? 'the role'}: ${awsMessage}`,
      { details },
    );
  }
  if (name === 'ValidationError' && /DurationSeconds/i.test(awsMessage)) {
    return new AppError('aws_validation', `AWS refused the session duration: ${awsMessage}`, {
      details,
      hint: "Lower the connection's sessionDurationSeconds, or raise the role's MaxSessionDuration parameter (up to 43200) and update the stack. Role chaining is capped at 3600 s.",
    });
  }
  if (name === 'CredentialsProviderError') {
    return new AppError('aws_no_credentials', `Sesame has no AWS credentials of its own: ${awsMessage}`, { details });
  }
  const code = CODES[name];
  if (code) return new AppError(code, `${ctx.action} failed with ${name}: ${awsMessage}`, { details });
  const status = err.$metadata?.httpStatusCode;
  if (status && status >= 500)
    return new AppError('aws_error', `${ctx.action} failed on the AWS side (${name}, HTTP ${status}).`, {
      details,
      hint: 'This is usually transient; retry shortly.',
    });
  return new AppError('aws_error', `${ctx.action} failed with ${name}: ${awsMessage}`, { details });
}

/** Run one AWS call; its error comes back translated for people. */
export async function translated<T>(action: string, region: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw translateAwsError(e, { action, region });
  }
}
