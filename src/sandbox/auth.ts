import { AwsError } from './errors.js';
import type { Protocol } from './protocol.js';
import { ADMIN_POLICY, combineAll, context, evaluate, type Decision, type RequestContext } from './policy.js';
import {
  MAX_SKEW_MS,
  firstHeader,
  parseAmzDate,
  verifySignature,
  type HeaderBag,
  type ParsedAuthorization,
} from './sigv4.js';
import type { SandboxState, SessionRecord, UserRecord } from './state.js';

/** Who signed a request. */
export interface Caller {
  kind: 'user' | 'session';
  account: string;
  /** User ARN, or the assumed-role ARN (arn:aws:sts::ACCT:assumed-role/Role/session). */
  arn: string;
  userId: string;
  accessKeyId: string;
  user?: UserRecord;
  session?: SessionRecord;
}

export interface RawRequest {
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: HeaderBag;
  body: Buffer;
}

type Failure = 'unknownKey' | 'badSignature' | 'badToken' | 'expired' | 'skew' | 'missing';

/**
 * The same failure has a different code per protocol family: Query services (STS, IAM) use the
 * classic names, the JSON "Coral" services (SESv2, Secrets Manager) use *Exception names, S3 its own.
 * SDKs read `error.name` from these, and Sesame's error translation depends on them.
 */
const CODES: Record<Failure, Record<Protocol, [string, number]>> = {
  unknownKey: {
    query: ['InvalidClientTokenId', 403],
    'rest-json': ['UnrecognizedClientException', 403],
    json: ['UnrecognizedClientException', 400],
    s3: ['InvalidAccessKeyId', 403],
  },
  badSignature: {
    query: ['SignatureDoesNotMatch', 403],
    'rest-json': ['InvalidSignatureException', 403],
    json: ['InvalidSignatureException', 400],
    s3: ['SignatureDoesNotMatch', 403],
  },
  badToken: {
    query: ['InvalidClientTokenId', 403],
    'rest-json': ['UnrecognizedClientException', 403],
    json: ['UnrecognizedClientException', 400],
    s3: ['InvalidToken', 400],
  },
  expired: {
    query: ['ExpiredToken', 403],
    'rest-json': ['ExpiredTokenException', 403],
    json: ['ExpiredTokenException', 400],
    s3: ['ExpiredToken', 400],
  },
  skew: {
    query: ['SignatureDoesNotMatch', 403],
    'rest-json': ['InvalidSignatureException', 403],
    json: ['InvalidSignatureException', 400],
    s3: ['RequestTimeTooSkewed', 403],
  },
  missing: {
    query: ['MissingAuthenticationToken', 403],
    'rest-json': ['MissingAuthenticationTokenException', 403],
    json: ['MissingAuthenticationTokenException', 400],
    s3: ['AccessDenied', 403],
  },
};

const MESSAGES: Record<Failure, (p: Protocol) => string> = {
  unknownKey: (p) =>
    p === 's3'
      ? 'The AWS Access Key Id you provided does not exist in our records.'
      : 'The security token included in the request is invalid.',
  badSignature: () =>
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  badToken: (p) =>
    p === 's3'
      ? 'The provided token is malformed or otherwise invalid.'
      : 'The security token included in the request is invalid.',
  expired: (p) =>
    p === 's3' ? 'The provided token has expired.' : 'The security token included in the request is expired',
  skew: () =>
    'Signature expired: the request time is more than 15 minutes away from the server time (Sesame sandbox clock).',
  missing: (p) => (p === 's3' ? 'Access Denied' : 'Request is missing Authentication Token'),
};

export function authError(kind: Failure, protocol: Protocol, message?: string): AwsError {
  const [code, status] = CODES[kind][protocol];
  return new AwsError(code, message ?? MESSAGES[kind](protocol), status);
}

/** Resolves and verifies the signer of a request. Throws AwsError encoded for `protocol`. */
export function authenticate(
  state: SandboxState,
  now: Date,
  req: RawRequest,
  auth: ParsedAuthorization,
  protocol: Protocol,
): Caller {
  const token = firstHeader(req.headers, 'x-amz-security-token');
  let secret: string;
  let caller: Caller;
  const user = state.users.find((u) => u.accessKeys.some((k) => k.accessKeyId === auth.accessKeyId));
  const session = state.sessions[auth.accessKeyId];
  if (user) {
    // A long-term key sent with a session token is refused by AWS the same way as a bad token.
    if (token !== undefined) throw authError('badToken', protocol);
    secret = user.accessKeys.find((k) => k.accessKeyId === auth.accessKeyId)!.secretAccessKey;
    caller = {
      kind: 'user',
      account: user.account,
      arn: user.arn,
      userId: user.userId,
      accessKeyId: auth.accessKeyId,
      user,
    };
  } else if (session) {
    if (token === undefined || token !== session.sessionToken) throw authError('badToken', protocol);
    secret = session.secretAccessKey;
    caller = {
      kind: 'session',
      account: session.account,
      arn: session.assumedRoleArn,
      userId: `${session.roleId}:${session.sessionName}`,
      accessKeyId: auth.accessKeyId,
      session,
    };
  } else {
    throw authError('unknownKey', protocol);
  }

  const amzDate = firstHeader(req.headers, 'x-amz-date') ?? '';
  const signedAt = parseAmzDate(amzDate);
  if (!signedAt || amzDate.slice(0, 8) !== auth.date) {
    throw authError(
      'badSignature',
      protocol,
      'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.',
    );
  }
  if (Math.abs(signedAt.getTime() - now.getTime()) > MAX_SKEW_MS) {
    const message =
      protocol === 's3'
        ? 'The difference between the request time and the current time is too large.'
        : `Signature expired: ${amzDate} is now earlier than ${new Date(now.getTime() - MAX_SKEW_MS).toISOString().replace(/[-:]|\.\d{3}/g, '')} (${now.toISOString().replace(/[-:]|\.\d{3}/g, '')} - 15 min.)`;
    throw authError('skew', protocol, message);
  }
  const result = verifySignature({ ...req, auth, secretAccessKey: secret });
  if (!result.ok) throw authError('badSignature', protocol);
  if (session && Date.parse(session.expiresAt) <= now.getTime()) throw authError('expired', protocol);
  return caller;
}

/** Condition keys every request carries. */
export function baseContext(caller: Caller, now: Date, region: string): RequestContext {
  const s = caller.session;
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(s?.tags ?? {})) tags[`aws:PrincipalTag/${k}`] = v;
  return context({
    'aws:CurrentTime': now.toISOString(),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
    'aws:PrincipalArn': s ? s.roleArn : caller.arn,
    'aws:PrincipalAccount': caller.account,
    'aws:PrincipalType': s ? 'AssumedRole' : 'User',
    'aws:userid': caller.userId,
    'aws:username': caller.user?.userName,
    'aws:TokenIssueTime': s?.issuedAt,
    'aws:SourceIdentity': s?.sourceIdentity,
    'aws:SecureTransport': 'false',
    'aws:RequestedRegion': region,
    ...tags,
  });
}

/** Identity-based decision: role policies ∩ session policy for sessions; user policies (admin when none) for users. */
export function identityDecision(
  state: SandboxState,
  caller: Caller,
  action: string,
  resource: string,
  ctx: RequestContext,
): Decision {
  const req = { action, resource, context: ctx };
  if (caller.user) return evaluate(caller.user.policies ?? [ADMIN_POLICY], req).decision;
  const session = caller.session!;
  const role = state.roles[session.roleArn];
  if (!role) return 'implicitDeny';
  const roleDecision = evaluate(Object.values(role.policies), req).decision;
  const sessionDecision = session.sessionPolicy ? evaluate([session.sessionPolicy], req).decision : 'allowed';
  return combineAll(roleDecision, sessionDecision);
}

export function notAuthorizedMessage(caller: Caller, action: string, resource: string): string {
  return `User: ${caller.arn} is not authorized to perform: ${action} on resource: ${resource}`;
}

/**
 * Throws the protocol's AccessDenied unless identity policies allow the action and the resource
 * belongs to the caller's account (the sandbox has no cross-account resource policies besides trust).
 */
export function authorize(
  state: SandboxState,
  caller: Caller,
  opts: { action: string; resource: string; resourceAccount?: string; context: RequestContext; protocol: Protocol },
): void {
  const sameAccount = opts.resourceAccount === undefined || opts.resourceAccount === caller.account;
  const decision = sameAccount
    ? identityDecision(state, caller, opts.action, opts.resource, opts.context)
    : 'implicitDeny';
  if (decision === 'allowed') return;
  const code = opts.protocol === 'query' || opts.protocol === 's3' ? 'AccessDenied' : 'AccessDeniedException';
  const status = opts.protocol === 'json' ? 400 : 403;
  const reason = decision === 'explicitDeny' ? ' with an explicit deny in an identity-based policy' : '';
  throw new AwsError(code, notAuthorizedMessage(caller, opts.action, opts.resource) + reason, status);
}
