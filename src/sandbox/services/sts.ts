import { baseContext, identityDecision } from '../auth.js';
import type { RequestContext } from '../context.js';
import { AwsError } from '../errors.js';
import { roleId as newRoleId, secretAccessKey, sessionAccessKeyId, sessionToken } from '../ids.js';
import { combineAll, context, evaluate, policyProblem, type PolicyDocument } from '../policy.js';
import { NAMESPACES, queryResponse, xmlEl, type SandboxResponse } from '../protocol.js';
import type { SessionRecord, StsCallRecord } from '../state.js';
import { structMembers } from './query.js';

// Limits from the STS AssumeRole API reference.
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const SOURCE_IDENTITY = /^[\w+=,.@-]{2,64}$/;
const MIN_DURATION = 900;
const ROLE_CHAINING_MAX = 3600;
const SESSION_POLICY_MAX = 2048;
const MAX_RECORDED_CALLS = 10_000;

const validation = (message: string) => new AwsError('ValidationError', message, 400);
const constraint = (value: string, member: string, rule: string) =>
  validation(`1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ${rule}`);

export function handleSts(ctx: RequestContext, params: URLSearchParams): SandboxResponse {
  const action = params.get('Action') ?? '';
  switch (action) {
    case 'GetCallerIdentity':
      return getCallerIdentity(ctx);
    case 'AssumeRole':
      return assumeRole(ctx, params);
    default:
      throw new AwsError(
        'InvalidAction',
        `Could not find operation ${action} for version 2011-06-15 (Sesame sandbox implements GetCallerIdentity and AssumeRole)`,
        400,
      );
  }
}

function getCallerIdentity(ctx: RequestContext): SandboxResponse {
  recordCall(ctx, { action: 'GetCallerIdentity', externalIdPresent: false, outcome: 'ok' });
  const c = ctx.caller;
  return queryResponse(
    'GetCallerIdentity',
    NAMESPACES.sts,
    xmlEl('Arn', c.arn) + xmlEl('UserId', c.userId) + xmlEl('Account', c.account),
    ctx.requestId,
  );
}

function recordCall(ctx: RequestContext, rec: Omit<StsCallRecord, 'at' | 'callerArn'>): void {
  const calls = ctx.deps.store.state.stsCalls;
  calls.push({ ...rec, callerArn: ctx.caller.arn, at: ctx.now.toISOString() });
  if (calls.length > MAX_RECORDED_CALLS) calls.splice(0, calls.length - MAX_RECORDED_CALLS);
  ctx.deps.store.save();
}

function assumeRole(ctx: RequestContext, params: URLSearchParams): SandboxResponse {
  const roleArn = params.get('RoleArn') ?? '';
  const sessionName = params.get('RoleSessionName') ?? '';
  const externalId = params.get('ExternalId') ?? undefined;
  const base = {
    action: 'AssumeRole',
    roleArn,
    roleSessionName: sessionName,
    externalIdPresent: externalId !== undefined,
  };
  try {
    const out = doAssumeRole(ctx, params, roleArn, sessionName, externalId);
    recordCall(ctx, { ...base, outcome: 'ok' });
    return out;
  } catch (e) {
    recordCall(ctx, { ...base, outcome: e instanceof AwsError ? e.code : 'InternalFailure' });
    throw e;
  }
}

function doAssumeRole(
  ctx: RequestContext,
  params: URLSearchParams,
  roleArn: string,
  sessionName: string,
  externalId: string | undefined,
): SandboxResponse {
  const state = ctx.deps.store.state;
  const caller = ctx.caller;

  // Input validation comes first, as in STS.
  if (roleArn.length < 20) constraintFail(roleArn, 'roleArn', 'Member must have length greater than or equal to 20');
  if (!SESSION_NAME.test(sessionName)) {
    throw sessionName.length < 2 || sessionName.length > 64
      ? constraint(
          sessionName,
          'roleSessionName',
          `Member must have length ${sessionName.length < 2 ? 'greater than or equal to 2' : 'less than or equal to 64'}`,
        )
      : constraint(sessionName, 'roleSessionName', 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
  }
  if (externalId !== undefined && !EXTERNAL_ID.test(externalId)) {
    // Never echo the External ID itself: it is a shared secret of sorts.
    throw validation(
      externalId.length < 2 || externalId.length > 1224
        ? `1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must have length ${externalId.length < 2 ? 'greater than or equal to 2' : 'less than or equal to 1224'}`
        : "1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*",
    );
  }
  const sourceIdentity = params.get('SourceIdentity') ?? undefined;
  if (sourceIdentity !== undefined && !SOURCE_IDENTITY.test(sourceIdentity)) {
    throw constraint(sourceIdentity, 'sourceIdentity', 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
  }
  const durationRaw = params.get('DurationSeconds');
  const duration = durationRaw === null ? undefined : Number(durationRaw);
  if (duration !== undefined && (!Number.isInteger(duration) || duration < MIN_DURATION)) {
    throw constraint(String(durationRaw), 'durationSeconds', 'Member must have value greater than or equal to 900');
  }
  if (duration !== undefined && duration > 43200)
    throw constraint(String(durationRaw), 'durationSeconds', 'Member must have value less than or equal to 43200');

  const policyText = params.get('Policy') ?? undefined;
  let sessionPolicy: PolicyDocument | undefined;
  if (policyText !== undefined) {
    if (policyText.length > SESSION_POLICY_MAX) {
      const pct = Math.round((policyText.length / SESSION_POLICY_MAX) * 100);
      throw new AwsError(
        'PackedPolicyTooLarge',
        `Packed policy consumes ${pct}% of allotted space, please use smaller policy for the given session.`,
        400,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(policyText);
    } catch {
      throw new AwsError('MalformedPolicyDocument', 'The policy is not in the valid JSON format.', 400);
    }
    const problem = policyProblem(parsed);
    if (problem) throw new AwsError('MalformedPolicyDocument', problem, 400);
    sessionPolicy = parsed as PolicyDocument;
  }
  const tags: Record<string, string> = {};
  for (const t of structMembers(params, 'Tags')) {
    const k = t['Key'];
    if (k === undefined)
      throw validation(
        "1 validation error detected: Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null",
      );
    tags[k] = t['Value'] ?? '';
  }
  if (Object.keys(tags).length > 50)
    throw validation('1 validation error detected: Member must have length less than or equal to 50');

  const denied = () =>
    new AwsError(
      'AccessDenied',
      `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      403,
    );
  const role = state.roles[roleArn];
  // A missing role is indistinguishable from a refused one: STS does not reveal which roles exist.
  if (!role) throw denied();
  // Newly created roles are not assumable until IAM has propagated them.
  if (ctx.now.getTime() - Date.parse(role.createdAt) < state.propagationDelayMs) throw denied();

  const requestContext = {
    ...baseContext(caller, ctx.now, ctx.region),
    ...context({
      'sts:ExternalId': externalId,
      'sts:RoleSessionName': sessionName,
      'sts:SourceIdentity': sourceIdentity,
      'aws:TagKeys': Object.keys(tags).length ? Object.keys(tags) : undefined,
      ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
    }),
  };
  const principal = {
    arn: caller.arn,
    account: caller.account,
    ...(caller.session ? { roleArn: caller.session.roleArn } : {}),
  };
  const trustAllows = (action: string) =>
    evaluate(
      [role.assumeRolePolicy],
      { action, resource: role.arn, context: requestContext, principal },
      { checkPrincipal: true },
    ).decision;
  const identityAllows = (action: string) => identityDecision(state, caller, action, role.arn, requestContext);
  const allowed = (action: string) => combineAll(trustAllows(action), identityAllows(action)) === 'allowed';

  if (!allowed('sts:AssumeRole')) throw denied();
  if (sourceIdentity !== undefined && !allowed('sts:SetSourceIdentity')) {
    throw new AwsError(
      'AccessDenied',
      `User: ${caller.arn} is not authorized to perform: sts:SetSourceIdentity on resource: ${roleArn}`,
      403,
    );
  }
  if (Object.keys(tags).length > 0 && !allowed('sts:TagSession')) {
    throw new AwsError(
      'AccessDenied',
      `User: ${caller.arn} is not authorized to perform: sts:TagSession on resource: ${roleArn}`,
      403,
    );
  }
  // A session that was itself created with a source identity must keep it when chaining.
  const inheritedSource = caller.session?.sourceIdentity;
  if (inheritedSource !== undefined && sourceIdentity !== undefined && sourceIdentity !== inheritedSource) {
    throw new AwsError(
      'AccessDenied',
      `User: ${caller.arn} is not authorized to perform: sts:SetSourceIdentity on resource: ${roleArn}`,
      403,
    );
  }

  const chaining = caller.kind === 'session';
  const seconds = duration ?? 3600;
  if (chaining && seconds > ROLE_CHAINING_MAX) {
    throw validation(
      'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.',
    );
  }
  if (seconds > role.maxSessionDuration)
    throw validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');

  const roleName = role.roleName;
  const session: SessionRecord = {
    accessKeyId: sessionAccessKeyId(),
    secretAccessKey: secretAccessKey(),
    sessionToken: sessionToken(),
    account: role.account,
    roleArn: role.arn,
    roleId: role.roleId || newRoleId(),
    sessionName,
    assumedRoleArn: `arn:aws:sts::${role.account}:assumed-role/${roleName}/${sessionName}`,
    issuedAt: ctx.now.toISOString(),
    expiresAt: new Date(ctx.now.getTime() + seconds * 1000).toISOString(),
    ...(sessionPolicy ? { sessionPolicy } : {}),
    ...((sourceIdentity ?? inheritedSource) ? { sourceIdentity: (sourceIdentity ?? inheritedSource)! } : {}),
    tags,
    callerArn: caller.arn,
  };
  pruneSessions(state.sessions, ctx.now);
  state.sessions[session.accessKeyId] = session;
  ctx.deps.store.save();

  const packed =
    policyText === undefined && Object.keys(tags).length === 0
      ? undefined
      : Math.max(1, Math.round(((policyText?.length ?? 0) + JSON.stringify(tags).length) / 20.48));
  const xml =
    '<Credentials>' +
    xmlEl('AccessKeyId', session.accessKeyId) +
    xmlEl('SecretAccessKey', session.secretAccessKey) +
    xmlEl('SessionToken', session.sessionToken) +
    xmlEl('Expiration', session.expiresAt.replace(/\.\d{3}Z$/, 'Z')) +
    '</Credentials>' +
    `<AssumedRoleUser>${xmlEl('AssumedRoleId', `${session.roleId}:${sessionName}`)}${xmlEl('Arn', session.assumedRoleArn)}</AssumedRoleUser>` +
    xmlEl('PackedPolicySize', packed) +
    xmlEl('SourceIdentity', session.sourceIdentity);
  return queryResponse('AssumeRole', NAMESPACES.sts, xml, ctx.requestId);
}

function constraintFail(value: string, member: string, rule: string): never {
  throw constraint(value, member, rule);
}

/** Drops sessions expired for more than a day; recent ones stay so their callers get ExpiredToken, not InvalidClientTokenId. */
function pruneSessions(sessions: Record<string, SessionRecord>, now: Date): void {
  for (const [k, s] of Object.entries(sessions))
    if (Date.parse(s.expiresAt) < now.getTime() - 86_400_000) delete sessions[k];
}
