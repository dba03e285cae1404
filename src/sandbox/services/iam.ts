import { authorize, baseContext } from '../auth.js';
import type { RequestContext } from '../context.js';
import { AwsError } from '../errors.js';
import { ADMIN_POLICY, evaluate, type PolicyDocument, type RequestContext as PolicyContext } from '../policy.js';
import { NAMESPACES, queryResponse, xmlEl, type SandboxResponse } from '../protocol.js';
import { listMembers, nestedList, structMembers } from './query.js';

export function handleIam(ctx: RequestContext, params: URLSearchParams): SandboxResponse {
  const action = params.get('Action') ?? '';
  switch (action) {
    case 'SimulatePrincipalPolicy':
      return simulatePrincipalPolicy(ctx, params);
    case 'GetRole':
      return getRole(ctx, params);
    case 'ListAccessKeys':
      return listAccessKeys(ctx, params);
    default:
      throw new AwsError(
        'InvalidAction',
        `Could not find operation ${action} for version 2010-05-08 (Sesame sandbox implements SimulatePrincipalPolicy, GetRole and ListAccessKeys)`,
        400,
      );
  }
}

interface PolicySource {
  account: string;
  policies: { id: string; doc: PolicyDocument }[];
}

function resolveSource(ctx: RequestContext, arn: string): PolicySource {
  const state = ctx.deps.store.state;
  const m =
    /^arn:aws:iam::(\d{12}):(user|role)(\/.*)?\/([\w+=,.@-]+)$/.exec(arn) ??
    /^arn:aws:sts::(\d{12}):(assumed-role)\/([\w+=,.@-]+)\/[\w+=,.@-]+$/.exec(arn);
  if (!m)
    throw new AwsError('InvalidInput', `Invalid ARN ${arn}: PolicySourceArn must be an IAM user or role ARN.`, 400);
  const account = m[1]!;
  if (m[2] === 'user') {
    const user = state.users.find((u) => u.arn === arn);
    if (!user) throw new AwsError('NoSuchEntity', `The user with name ${m[4]} cannot be found.`, 404);
    return {
      account,
      policies: (user.policies ?? [ADMIN_POLICY]).map((doc, i) => ({
        id: user.policies ? `policy-${i + 1}` : 'AdministratorAccess',
        doc,
      })),
    };
  }
  const name = m[2] === 'role' ? m[4]! : m[3]!;
  const role = Object.values(state.roles).find((r) =>
    m[2] === 'role' ? r.arn === arn : r.account === account && r.roleName === name,
  );
  if (!role) throw new AwsError('NoSuchEntity', `The role with name ${name} cannot be found.`, 404);
  return { account, policies: Object.entries(role.policies).map(([id, doc]) => ({ id, doc })) };
}

function simulatePrincipalPolicy(ctx: RequestContext, params: URLSearchParams): SandboxResponse {
  const sourceArn = params.get('PolicySourceArn') ?? '';
  const actions = listMembers(params, 'ActionNames');
  if (!sourceArn)
    throw new AwsError(
      'ValidationError',
      "1 validation error detected: Value null at 'policySourceArn' failed to satisfy constraint: Member must not be null",
      400,
    );
  if (actions.length === 0)
    throw new AwsError(
      'ValidationError',
      "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null",
      400,
    );
  const accountOfArn = /^arn:aws:(?:iam|sts)::(\d{12}):/.exec(sourceArn)?.[1];
  authorize(ctx.deps.store.state, ctx.caller, {
    action: 'iam:SimulatePrincipalPolicy',
    resource: sourceArn,
    ...(accountOfArn ? { resourceAccount: accountOfArn } : {}),
    context: baseContext(ctx.caller, ctx.now, ctx.region),
    protocol: 'query',
  });
  const source = resolveSource(ctx, sourceArn);
  const resources = listMembers(params, 'ResourceArns');
  const extra: PolicyContext = {};
  for (const entry of structMembers(params, 'ContextEntries')) {
    const key = entry['ContextKeyName'];
    if (!key) continue;
    const values = nestedList(entry, 'ContextKeyValues');
    const type = entry['ContextKeyType'] ?? 'string';
    extra[key.toLowerCase()] = type.endsWith('List') ? values : (values[0] ?? '');
  }
  let xml = '<EvaluationResults>';
  for (const action of actions) {
    for (const resource of resources.length ? resources : ['*']) {
      const result = evaluate(
        source.policies.map((p) => p.doc),
        { action, resource, context: { ...baseContext(ctx.caller, ctx.now, ctx.region), ...extra } },
      );
      const matched = result.matched
        .map(
          (m) =>
            `<member>${xmlEl('SourcePolicyId', source.policies[m.policy]?.id)}${xmlEl('SourcePolicyType', 'IAM Policy')}</member>`,
        )
        .join('');
      xml +=
        '<member>' +
        xmlEl('EvalActionName', action) +
        xmlEl('EvalResourceName', resource) +
        xmlEl('EvalDecision', result.decision) +
        `<MatchedStatements>${matched}</MatchedStatements>` +
        '<MissingContextValues></MissingContextValues>' +
        '</member>';
    }
  }
  xml += '</EvaluationResults><IsTruncated>false</IsTruncated>';
  return queryResponse('SimulatePrincipalPolicy', NAMESPACES.iam, xml, ctx.requestId);
}

function getRole(ctx: RequestContext, params: URLSearchParams): SandboxResponse {
  const name = params.get('RoleName') ?? '';
  const state = ctx.deps.store.state;
  // IAM is per account: RoleName is looked up in the caller's own account.
  const role = Object.values(state.roles).find((r) => r.account === ctx.caller.account && r.roleName === name);
  const resource = role?.arn ?? `arn:aws:iam::${ctx.caller.account}:role/${name}`;
  authorize(state, ctx.caller, {
    action: 'iam:GetRole',
    resource,
    context: baseContext(ctx.caller, ctx.now, ctx.region),
    protocol: 'query',
  });
  if (!role) throw new AwsError('NoSuchEntity', `The role with name ${name} cannot be found.`, 404);
  const tags = role.tags.map((t) => `<member>${xmlEl('Key', t.Key)}${xmlEl('Value', t.Value)}</member>`).join('');
  const xml =
    '<Role>' +
    xmlEl('Path', role.path) +
    xmlEl('RoleName', role.roleName) +
    xmlEl('RoleId', role.roleId) +
    xmlEl('Arn', role.arn) +
    xmlEl('CreateDate', role.createdAt.replace(/\.\d{3}Z$/, 'Z')) +
    // IAM returns policy documents URL-encoded.
    xmlEl('AssumeRolePolicyDocument', encodeURIComponent(JSON.stringify(role.assumeRolePolicy))) +
    xmlEl('Description', role.description) +
    xmlEl('MaxSessionDuration', role.maxSessionDuration) +
    (tags ? `<Tags>${tags}</Tags>` : '') +
    '</Role>';
  return queryResponse('GetRole', NAMESPACES.iam, xml, ctx.requestId);
}

/** Without UserName, IAM lists the keys of the user who signed the request; role sessions must name one. */
function listAccessKeys(ctx: RequestContext, params: URLSearchParams): SandboxResponse {
  const state = ctx.deps.store.state;
  const named = params.get('UserName');
  if (!named && !ctx.caller.user)
    throw new AwsError('ValidationError', 'Must specify userName when calling with non-User credentials', 400);
  const userName = named ?? ctx.caller.user!.userName;
  const user = state.users.find((u) => u.account === ctx.caller.account && u.userName === userName);
  authorize(state, ctx.caller, {
    action: 'iam:ListAccessKeys',
    resource: user?.arn ?? `arn:aws:iam::${ctx.caller.account}:user/${userName}`,
    context: baseContext(ctx.caller, ctx.now, ctx.region),
    protocol: 'query',
  });
  if (!user) throw new AwsError('NoSuchEntity', `The user with name ${userName} cannot be found.`, 404);
  const members = user.accessKeys
    .map(
      (k) =>
        '<member>' +
        xmlEl('UserName', user.userName) +
        xmlEl('AccessKeyId', k.accessKeyId) +
        xmlEl('Status', 'Active') +
        xmlEl('CreateDate', k.createdAt?.replace(/\.\d{3}Z$/, 'Z')) +
        '</member>',
    )
    .join('');
  const xml = `<AccessKeyMetadata>${members}</AccessKeyMetadata><IsTruncated>false</IsTruncated>`;
  return queryResponse('ListAccessKeys', NAMESPACES.iam, xml, ctx.requestId);
}
