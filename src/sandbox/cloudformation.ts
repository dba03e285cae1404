import { SandboxError } from './errors.js';
import { roleId as newRoleId, upperAlnum, uuid } from './ids.js';
import { conditionEvaluator, evaluate, resolveParameters, type EvalEnv } from './cfn-intrinsics.js';
import { parseTemplate, type Template } from './cfn-template.js';
import { policyProblem, type PolicyDocument } from './policy.js';
import {
  stackKey,
  type RoleRecord,
  type SandboxState,
  type StackRecord,
  type StackResource,
  type Tag,
} from './state.js';

export { parseTemplate } from './cfn-template.js';
export { resolveParameters, evaluate as evaluateIntrinsics } from './cfn-intrinsics.js';

/**
 * A CloudFormation stand-in for the one thing Sesame's template does: create IAM roles and their
 * inline policies. Everything is validated before state changes, so a failed deploy leaves
 * nothing behind (as CloudFormation's rollback would).
 */

export const SUPPORTED_TYPES = ['AWS::IAM::Role', 'AWS::IAM::Policy', 'AWS::IAM::RolePolicy'] as const;

export interface DeployInput {
  templateBody: string;
  stackName: string;
  parameters?: Record<string, string>;
  account: string;
  region: string;
  capabilities?: string[];
}

const STACK_NAME = /^[a-zA-Z][-a-zA-Z0-9]{0,127}$/;
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

const fail = (logicalId: string, type: string, message: string) =>
  new SandboxError(
    'CreateFailed',
    `Resource ${logicalId} (${type}) failed: ${message}. The stack was rolled back; nothing was created.`,
  );

export function deployStack(state: SandboxState, input: DeployInput, now: Date): StackRecord {
  if (!STACK_NAME.test(input.stackName)) {
    throw new SandboxError(
      'ValidationError',
      `1 validation error detected: Value '${input.stackName}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*`,
    );
  }
  const t = parseTemplate(input.templateBody);
  const key = stackKey(input.account, input.region, input.stackName);
  const previous = state.stacks[key];
  const stackId =
    previous?.stackId ?? `arn:aws:cloudformation:${input.region}:${input.account}:stack/${input.stackName}/${uuid()}`;
  const params = resolveParameters(t, input.parameters ?? {});
  const pseudo = {
    'AWS::AccountId': input.account,
    'AWS::Region': input.region,
    'AWS::Partition': 'aws',
    'AWS::StackName': input.stackName,
    'AWS::StackId': stackId,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::NotificationARNs': [] as string[],
  };

  const resources = Object.entries(t.Resources ?? {});
  const unsupported = [
    ...new Set(
      resources
        .map(([, r]) => r.Type ?? '(missing Type)')
        .filter((ty) => !(SUPPORTED_TYPES as readonly string[]).includes(ty)),
    ),
  ];
  if (unsupported.length) {
    throw new SandboxError(
      'ValidationError',
      `Template format error: Unrecognized resource types: [${unsupported.join(', ')}] (the Sesame sandbox only creates ${SUPPORTED_TYPES.join(', ')})`,
    );
  }

  // Roles get their physical names first, so policies and outputs can refer to them.
  const physical = new Map<string, { name: string; arn: string; roleId: string }>();
  const lookups: Omit<EvalEnv, 'conditions'> = {
    params,
    pseudo,
    mappings: t.Mappings,
    ref: (id) => physical.get(id)?.name ?? (t.Resources?.[id] ? `${input.stackName}-${id}` : undefined),
    getAtt: (id, attr) => {
      const p = physical.get(id);
      if (!p) return undefined;
      return attr === 'Arn' ? p.arn : attr === 'RoleId' ? p.roleId : undefined;
    },
  };
  const env: EvalEnv = { ...lookups, conditions: conditionEvaluator(t, lookups) };
  const active = resources.filter(([, r]) => r.Condition === undefined || env.conditions(r.Condition));

  checkCapabilities(active, env, input.capabilities ?? []);

  const notes: string[] = [];
  const roles = new Map<string, RoleRecord>();
  for (const [logicalId, r] of active.filter(([, r]) => r.Type === 'AWS::IAM::Role')) {
    const nameProp = r.Properties?.['RoleName'] === undefined ? undefined : evaluate(r.Properties['RoleName'], env);
    const old = previous?.resources.find((x) => x.logicalId === logicalId && x.type === 'AWS::IAM::Role');
    const oldRole = old ? state.roles[old.physicalId] : undefined;
    const generated =
      oldRole && nameProp === undefined
        ? oldRole.roleName
        : `${input.stackName}-${logicalId}-${upperAlnum(12)}`.slice(-64);
    const name = nameProp === undefined ? generated : String(nameProp);
    if (!ROLE_NAME.test(name))
      throw fail(logicalId, 'AWS::IAM::Role', `RoleName '${name}' must be 1-64 characters of [\\w+=,.@-]`);
    const pathProp = r.Properties?.['Path'] === undefined ? '/' : String(evaluate(r.Properties['Path'], env));
    if (!/^\/(?:[\x21-\x7e]*\/)?$/.test(pathProp))
      throw fail(logicalId, 'AWS::IAM::Role', `Path '${pathProp}' must begin and end with /`);
    const arn = `arn:aws:iam::${input.account}:role${pathProp}${name}`;
    const existing = state.roles[arn];
    if (existing && existing.stackId !== stackId)
      throw fail(
        logicalId,
        'AWS::IAM::Role',
        `Resource of type 'AWS::IAM::Role' with identifier '${name}' already exists`,
      );
    const keep = oldRole && oldRole.arn === arn ? oldRole : undefined;
    physical.set(logicalId, { name, arn, roleId: keep?.roleId ?? newRoleId() });
    roles.set(logicalId, {
      arn,
      account: input.account,
      roleName: name,
      path: pathProp,
      roleId: physical.get(logicalId)!.roleId,
      assumeRolePolicy: { Statement: [] },
      policies: {},
      maxSessionDuration: 3600,
      tags: [],
      // An updated role keeps its age: propagation delay only applies to new roles.
      createdAt: keep?.createdAt ?? now.toISOString(),
      stackId,
    });
  }

  const stackResources: StackResource[] = [];
  const externalAttachments: { roleArn: string; name: string; doc: PolicyDocument }[] = [];
  for (const [logicalId, r] of active) {
    const type = r.Type!;
    const props = (evaluate(r.Properties ?? {}, env) ?? {}) as Record<string, unknown>;
    if (type === 'AWS::IAM::Role') {
      const role = roles.get(logicalId)!;
      role.assumeRolePolicy = policyDoc(props['AssumeRolePolicyDocument'], logicalId, type, true);
      const max = props['MaxSessionDuration'] === undefined ? 3600 : Number(props['MaxSessionDuration']);
      if (!Number.isInteger(max) || max < 3600 || max > 43200) {
        throw fail(
          logicalId,
          type,
          `1 validation error detected: Value '${String(props['MaxSessionDuration'])}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value ${max < 3600 ? 'greater than or equal to 3600' : 'less than or equal to 43200'}`,
        );
      }
      role.maxSessionDuration = max;
      if (typeof props['Description'] === 'string') role.description = props['Description'];
      role.tags = Array.isArray(props['Tags'])
        ? (props['Tags'] as Tag[]).map((x) => ({ Key: String(x.Key), Value: String(x.Value) }))
        : [];
      for (const p of Array.isArray(props['Policies']) ? (props['Policies'] as Record<string, unknown>[]) : []) {
        role.policies[String(p['PolicyName'])] = policyDoc(p['PolicyDocument'], logicalId, type, false);
      }
      if (props['ManagedPolicyArns'] !== undefined)
        notes.push(`${logicalId}: ManagedPolicyArns ignored (the sandbox has no managed policies)`);
      if (props['PermissionsBoundary'] !== undefined) notes.push(`${logicalId}: PermissionsBoundary ignored`);
      stackResources.push({ logicalId, type, physicalId: role.arn });
    } else {
      const policyName = String(props['PolicyName'] ?? '');
      if (!policyName) throw fail(logicalId, type, 'PolicyName is required');
      const doc = policyDoc(props['PolicyDocument'], logicalId, type, false);
      const targetNames =
        type === 'AWS::IAM::RolePolicy' ? [props['RoleName']] : Array.isArray(props['Roles']) ? props['Roles'] : [];
      if (props['Users'] !== undefined || props['Groups'] !== undefined)
        notes.push(`${logicalId}: Users/Groups attachments ignored`);
      const attachedTo: string[] = [];
      for (const n of targetNames) {
        const own = [...roles.values()].find((x) => x.roleName === n);
        if (own) {
          own.policies[policyName] = doc;
          attachedTo.push(own.arn);
          continue;
        }
        const ext = Object.values(state.roles).find((x) => x.account === input.account && x.roleName === n);
        if (!ext) throw fail(logicalId, type, `The role with name ${String(n)} cannot be found`);
        externalAttachments.push({ roleArn: ext.arn, name: policyName, doc });
        attachedTo.push(ext.arn);
      }
      stackResources.push({
        logicalId,
        type,
        physicalId: `${input.stackName}-${logicalId}-${upperAlnum(8)}`,
        attachedTo,
        policyName,
      });
    }
  }

  const outputs: Record<string, string> = {};
  for (const [name, o] of Object.entries(t.Outputs ?? {})) {
    if (o.Condition !== undefined && !env.conditions(o.Condition)) continue;
    const v = evaluate(o.Value, env);
    outputs[name] = Array.isArray(v) ? v.join(',') : String(v);
  }

  // Validation done: apply. Remove what the previous version created and this one no longer has.
  if (previous) removeStackResources(state, previous, new Set([...roles.values()].map((r) => r.arn)));
  for (const role of roles.values()) state.roles[role.arn] = role;
  for (const a of externalAttachments) {
    const role = state.roles[a.roleArn];
    if (role) role.policies[a.name] = a.doc;
  }
  const record: StackRecord = {
    stackId,
    stackName: input.stackName,
    account: input.account,
    region: input.region,
    parameters: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v])),
    outputs,
    resources: stackResources,
    notes,
    createdAt: previous?.createdAt ?? now.toISOString(),
    updatedAt: now.toISOString(),
  };
  state.stacks[key] = record;
  return record;
}

/** Deletes the stack's roles (except those in `keep`) and detaches the policies it put on other roles. */
export function removeStackResources(state: SandboxState, stack: StackRecord, keep: Set<string> = new Set()): void {
  for (const r of stack.resources) {
    if (r.type === 'AWS::IAM::Role' && !keep.has(r.physicalId)) delete state.roles[r.physicalId];
    if (r.type !== 'AWS::IAM::Role' && r.policyName) {
      for (const arn of r.attachedTo ?? []) {
        const role = state.roles[arn];
        if (role && role.stackId !== stack.stackId) delete role.policies[r.policyName];
      }
    }
  }
}

export function deleteStack(state: SandboxState, stackName: string, account: string, region: string): boolean {
  const key = stackKey(account, region, stackName);
  const stack = state.stacks[key];
  if (!stack) return false;
  removeStackResources(state, stack);
  delete state.stacks[key];
  return true;
}

function checkCapabilities(
  active: [string, { Type?: string; Properties?: Record<string, unknown> }][],
  env: EvalEnv,
  capabilities: string[],
): void {
  const iam = active.some(([, r]) => r.Type?.startsWith('AWS::IAM::'));
  if (!iam) return;
  const named = active.some(
    ([, r]) =>
      r.Type === 'AWS::IAM::Role' &&
      r.Properties?.['RoleName'] !== undefined &&
      evaluate(r.Properties['RoleName'], env) !== undefined,
  );
  const ok = capabilities.includes('CAPABILITY_NAMED_IAM') || (!named && capabilities.includes('CAPABILITY_IAM'));
  if (!ok)
    throw new SandboxError(
      'InsufficientCapabilitiesException',
      `Requires capabilities : [${named ? 'CAPABILITY_NAMED_IAM' : 'CAPABILITY_IAM'}]`,
    );
}

function policyDoc(v: unknown, logicalId: string, type: string, trust: boolean): PolicyDocument {
  const doc = typeof v === 'string' ? safeJson(v) : v;
  const problem = policyProblem(doc, { trust });
  if (problem) throw fail(logicalId, type, `MalformedPolicyDocument: ${problem}`);
  return doc as PolicyDocument;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

export type { Template };
