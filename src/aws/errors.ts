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

/**
 * An answer that did not come from AWS: no AWS request id and not the XML or JSON every AWS API
 * speaks (an HTML page from a wrong endpoint, a proxy or a captive portal). Raised before the SDK
 * tries to parse it, so it is neither mistaken for an AWS error code nor retried as transient.
 */
export class NotAwsResponse extends Error {
  override readonly name = 'NotAwsResponse';
  constructor(
    /** Which endpoint setting applies: `sesv2`, `sts`, … */
    readonly service: string,
    /** The URL that answered: scheme, host, port and path only (never a query or user info). */
    readonly endpoint: string,
    readonly httpStatus: number,
    readonly contentType: string,
    /** Whether Sesame was given this endpoint (AWS_ENDPOINT_URL[_SERVICE]) or the SDK resolved it. */
    readonly configured: boolean,
  ) {
    super(`${endpoint} answered HTTP ${httpStatus} (${contentType || 'no content type'}) without an AWS request id.`);
  }
}

/** The endpoint setting per service, as the SDK names it. */
const ENDPOINT_SETTING: Record<string, string> = {
  sts: 'AWS_ENDPOINT_URL_STS',
  sesv2: 'AWS_ENDPOINT_URL_SESV2',
  sns: 'AWS_ENDPOINT_URL_SNS',
  iam: 'AWS_ENDPOINT_URL_IAM',
  secretsManager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  s3: 'AWS_ENDPOINT_URL_S3',
};

const REQUEST_ID_HEADERS = ['x-amzn-requestid', 'x-amz-request-id', 'x-amzn-request-id'];

/** Whether a raw HTTP answer can be from an AWS API (headers only: the body is left to the SDK). */
export function looksLikeAws(headers: Record<string, string | undefined>): boolean {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) h[k.toLowerCase()] = v;
  const contentType = h['content-type'] ?? '';
  if (/html/i.test(contentType)) return false;
  if (REQUEST_ID_HEADERS.some((k) => h[k])) return true;
  return /xml|json/i.test(contentType);
}

function notAwsError(e: NotAwsResponse, ctx: AwsErrorContext): AppError {
  const setting = ENDPOINT_SETTING[e.service] ?? 'AWS_ENDPOINT_URL_<SERVICE>';
  const hint = e.configured
    ? `${setting} (or AWS_ENDPOINT_URL) points Sesame at something that is not the AWS API. Fix or unset it so the SDK uses AWS's own endpoint, then restart Sesame and run \`sesame aws test\`.`
    : `Sesame uses the SDK's own endpoint for this service, yet something else answered: check for an HTTP proxy (HTTPS_PROXY), a profile's endpoint_url, or set ${setting} to the right endpoint.`;
  return new AppError(
    'aws_endpoint_not_aws',
    `${ctx.action} was not answered by AWS: ${e.endpoint} answered HTTP ${e.httpStatus} (${e.contentType || 'no content type'}) without an AWS request id.`,
    {
      hint,
      details: {
        action: ctx.action,
        ...(ctx.region ? { region: ctx.region } : {}),
        endpoint: e.endpoint,
        httpStatus: e.httpStatus,
        setting,
      },
    },
  );
}

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
  if (e instanceof NotAwsResponse) return notAwsError(e, ctx);
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

/**
 * Credentials a caller has just handed over (a key pair being rotated in) that AWS refuses: the
 * caller's input is wrong, not AWS nor Sesame, so the answer is 422 with the same code. The same
 * codes for credentials Sesame stored earlier stay upstream (502) errors.
 */
const CALLER_CREDENTIAL_CODES = new Set<string>([
  'aws_invalid_client_token',
  'aws_signature_mismatch',
  'aws_access_denied',
]);
export function asCallerMistake(e: unknown): unknown {
  if (!(e instanceof AppError) || !CALLER_CREDENTIAL_CODES.has(e.code)) return e;
  return new AppError(e.code as ErrorCode, `The credentials you supplied were refused: ${e.message}`, {
    status: 422,
    hint: e.hint,
    ...(e.details ? { details: e.details } : {}),
    cause: e,
  });
}

/** AWS refused parameters that came straight from the caller (an identity name, a DKIM key): 422, not 502. */
export function asCallerInput(e: AppError): AppError {
  if (e.code !== 'aws_validation') return e;
  return new AppError('aws_validation', e.message, {
    status: 422,
    hint: 'AWS refused a value from your request; the message names it. Fix it and send the request again.',
    ...(e.details ? { details: e.details } : {}),
    cause: e,
  });
}

/** Run one AWS call; its error comes back translated for people. */
export async function translated<T>(action: string, region: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw translateAwsError(e, { action, region });
  }
}
