import { describe, expect, test } from 'vitest';
import { deleteStack, deployStack, parseTemplate } from '../../src/sandbox/cloudformation.js';
import { bootstrapState, CUSTOMER_ACCOUNT } from '../../src/sandbox/state.js';
import { EXTERNAL_ID, ROLE_TEMPLATE } from './helpers.js';

const NOW = new Date('2026-01-01T00:00:00Z');
const PLATFORM = 'arn:aws:iam::111111111111:user/sesame-platform';
const base = {
  stackName: 'sesame',
  account: CUSTOMER_ACCOUNT,
  region: 'us-east-1',
  capabilities: ['CAPABILITY_NAMED_IAM'],
};
const params = { ExternalId: EXTERNAL_ID, TrustedPrincipalArn: PLATFORM };
const fresh = () => bootstrapState(NOW, 'us-east-1');

describe('CloudFormation template handling', () => {
  test('parses short-form tags into long form', () => {
    const t = parseTemplate(
      'Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: !Sub "${AWS::StackName}-x"\n      Path: !Select [0, !Split [",", "/a/,/b/"]]\n',
    );
    expect(t.Resources?.['R']?.Properties).toEqual({
      RoleName: { 'Fn::Sub': '${AWS::StackName}-x' },
      Path: { 'Fn::Select': [0, { 'Fn::Split': [',', '/a/,/b/'] }] },
    });
  });

  test('deploys the Sesame role template with conditions, Sub, Split and outputs', () => {
    const state = fresh();
    const stack = deployStack(
      state,
      {
        ...base,
        templateBody: ROLE_TEMPLATE,
        parameters: { ...params, SendFromDomains: 'a.test,b.test', MaxSessionDuration: '7200' },
      },
      NOW,
    );
    expect(stack.outputs).toEqual({
      RoleArn: 'arn:aws:iam::222222222222:role/SesameSending',
      DomainsRestricted: 'yes',
    });
    const role = state.roles['arn:aws:iam::222222222222:role/SesameSending']!;
    expect(role.maxSessionDuration).toBe(7200);
    expect(role.description).toBe('Sesame sending role for stack sesame');
    expect(Object.keys(role.policies)).toEqual(['send', 'read', 'manage']);
    expect(JSON.stringify(role.policies['send'])).toContain('"ses:FromAddress":["*@a.test","*@b.test"]');
    expect(JSON.stringify(role.assumeRolePolicy)).toContain(EXTERNAL_ID);

    // Without domains the condition is false and the Condition member disappears (AWS::NoValue).
    const other = fresh();
    const s2 = deployStack(other, { ...base, templateBody: ROLE_TEMPLATE, parameters: params }, NOW);
    expect(s2.outputs['DomainsRestricted']).toBe('no');
    expect(JSON.stringify(Object.values(other.roles)[0]!.policies['send'])).not.toContain('Condition');
  });

  test('parameter constraints fail with CloudFormation wording', () => {
    const go = (p: Record<string, string>) => () =>
      deployStack(fresh(), { ...base, templateBody: ROLE_TEMPLATE, parameters: p }, NOW);
    expect(go({ TrustedPrincipalArn: PLATFORM })).toThrow('Parameters: [ExternalId] must have values');
    expect(go({ ...params, Nope: 'x' })).toThrow('Parameters: [Nope] do not exist in the template');
    expect(go({ ...params, ExternalId: 'x' })).toThrow("Parameter 'ExternalId' must contain at least 2 characters");
    expect(go({ ...params, ExternalId: 'has space' })).toThrow("Parameter 'ExternalId' must match pattern");
    expect(go({ ...params, MaxSessionDuration: '100' })).toThrow(
      "Parameter 'MaxSessionDuration' must be a number not less than 3600",
    );
    expect(go({ ...params, MaxSessionDuration: 'abc' })).toThrow("Parameter 'MaxSessionDuration' must be a number");
    const allowed =
      'Parameters:\n  Mode:\n    Type: String\n    AllowedValues: [a, b]\nResources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: { Statement: [{ Effect: Allow, Principal: { AWS: "111111111111" }, Action: "sts:AssumeRole" }] }\n';
    expect(() => deployStack(fresh(), { ...base, templateBody: allowed, parameters: { Mode: 'c' } }, NOW)).toThrow(
      "Parameter 'Mode' must be one of AllowedValues",
    );
  });

  test('IAM resources need the right capability', () => {
    const run =
      (capabilities: string[], body = ROLE_TEMPLATE) =>
      () =>
        deployStack(fresh(), { ...base, capabilities, templateBody: body, parameters: params }, NOW);
    expect(run([])).toThrow('Requires capabilities : [CAPABILITY_NAMED_IAM]');
    expect(run(['CAPABILITY_IAM'])).toThrow(expect.objectContaining({ code: 'InsufficientCapabilitiesException' }));
    const unnamed = ROLE_TEMPLATE.replace('      RoleName: !Ref RoleName\n', '');
    expect(run([], unnamed)).toThrow('Requires capabilities : [CAPABILITY_IAM]');
    expect(run(['CAPABILITY_IAM'], unnamed)).not.toThrow();
  });

  test('unsupported resource types fail the deploy naming them, leaving nothing behind', () => {
    const state = fresh();
    const body = ROLE_TEMPLATE.replace('Outputs:', '  Topic:\n    Type: AWS::SNS::Topic\nOutputs:');
    expect(() => deployStack(state, { ...base, templateBody: body, parameters: params }, NOW)).toThrow(
      /Unrecognized resource types: \[AWS::SNS::Topic\]/,
    );
    expect(Object.keys(state.roles)).toHaveLength(0);
  });

  test('redeploying updates in place; deleting removes the role; policies attach to roles', () => {
    const state = fresh();
    deployStack(state, { ...base, templateBody: ROLE_TEMPLATE, parameters: params }, NOW);
    const arn = 'arn:aws:iam::222222222222:role/SesameSending';
    const created = state.roles[arn]!.createdAt;
    const later = new Date(NOW.getTime() + 60_000);
    const extra = ROLE_TEMPLATE.replace(
      'Outputs:',
      '  Extra:\n    Type: AWS::IAM::Policy\n    Properties:\n      PolicyName: extra\n      Roles: [!Ref SesameRole]\n      PolicyDocument: { Statement: [{ Effect: Deny, Action: "ses:DeleteEmailIdentity", Resource: "*" }] }\nOutputs:',
    );
    deployStack(state, { ...base, templateBody: extra, parameters: { ...params, MaxSessionDuration: '43200' } }, later);
    expect(state.roles[arn]!.createdAt).toBe(created);
    expect(state.roles[arn]!.maxSessionDuration).toBe(43200);
    expect(Object.keys(state.roles[arn]!.policies)).toContain('extra');
    expect(Object.keys(state.stacks)).toHaveLength(1);
    // A role name taken by another stack is refused.
    expect(() =>
      deployStack(state, { ...base, stackName: 'other', templateBody: ROLE_TEMPLATE, parameters: params }, NOW),
    ).toThrow(/already exists/);
    expect(deleteStack(state, 'sesame', CUSTOMER_ACCOUNT, 'us-east-1')).toBe(true);
    expect(state.roles[arn]).toBeUndefined();
  });

  test('validates MaxSessionDuration, policy documents and template format', () => {
    const body = ROLE_TEMPLATE.replace(
      '      MaxSessionDuration: !Ref MaxSessionDuration\n',
      '      MaxSessionDuration: 100\n',
    );
    expect(() => deployStack(fresh(), { ...base, templateBody: body, parameters: params }, NOW)).toThrow(
      /maxSessionDuration.*greater than or equal to 3600/,
    );
    expect(() => parseTemplate('Resources: [')).toThrow(/Template format error/);
    expect(() => parseTemplate('Parameters: {}')).toThrow(/At least one Resources member/);
    const noTrust =
      'Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: { Statement: [{ Effect: Allow, Action: "sts:AssumeRole" }] }\n';
    expect(() => deployStack(fresh(), { ...base, templateBody: noTrust }, NOW)).toThrow(/MalformedPolicyDocument/);
    expect(() => deployStack(fresh(), { ...base, stackName: '1bad', templateBody: noTrust }, NOW)).toThrow(/stackName/);
  });
});
