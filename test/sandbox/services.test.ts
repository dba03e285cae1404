import { GetRoleCommand, ListAccessKeysCommand, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EXTERNAL_ID, ROLE_TEMPLATE, rejectsWith, startSandbox, type Creds, type Harness } from './helpers.js';

let h: Harness;
let roleArn: string;
let role: Creds;

beforeAll(async () => {
  h = await startSandbox();
  roleArn = h.sandbox.admin.deployTemplate({
    templateBody: ROLE_TEMPLATE,
    stackName: 'sesame',
    parameters: {
      ExternalId: EXTERNAL_ID,
      TrustedPrincipalArn: 'arn:aws:iam::111111111111:user/sesame-platform',
      SendFromDomains: 'example.com',
    },
    capabilities: ['CAPABILITY_NAMED_IAM'],
  }).outputs['RoleArn']!;
  role = await h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID });
});
afterAll(() => h.sandbox.close());

describe('IAM', () => {
  test('SimulatePrincipalPolicy reports allowed / implicitDeny / explicitDeny from the role policies', async () => {
    h.sandbox.admin.putRolePolicy(roleArn, 'no-delete', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Deny', Action: 'ses:DeleteEmailIdentity', Resource: '*' }],
    });
    try {
      const out = await h.iam(role).send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: roleArn,
          ActionNames: ['ses:SendEmail', 'ses:GetAccount', 'ses:DeleteEmailIdentity', 's3:GetObject'],
          ContextEntries: [
            { ContextKeyName: 'ses:FromAddress', ContextKeyValues: ['news@example.com'], ContextKeyType: 'string' },
          ],
        }),
      );
      const decisions = Object.fromEntries(out.EvaluationResults!.map((r) => [r.EvalActionName, r.EvalDecision]));
      expect(decisions).toEqual({
        'ses:SendEmail': 'allowed',
        'ses:GetAccount': 'allowed',
        'ses:DeleteEmailIdentity': 'explicitDeny',
        's3:GetObject': 'implicitDeny',
      });
      expect(out.EvaluationResults![0]!.MatchedStatements?.[0]?.SourcePolicyId).toBe('send');
      const wrongFrom = await h.iam(role).send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: roleArn,
          ActionNames: ['ses:SendEmail'],
          ContextEntries: [
            { ContextKeyName: 'ses:FromAddress', ContextKeyValues: ['x@evil.test'], ContextKeyType: 'string' },
          ],
        }),
      );
      expect(wrongFrom.EvaluationResults![0]!.EvalDecision).toBe('implicitDeny');
    } finally {
      h.sandbox.admin.deleteRolePolicy(roleArn, 'no-delete');
    }
  });

  test('SimulatePrincipalPolicy needs iam:SimulatePrincipalPolicy and stays in the account', async () => {
    h.sandbox.admin.deleteRolePolicy(roleArn, 'manage');
    const noManage = await h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID });
    await rejectsWith(
      h
        .iam(noManage)
        .send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn, ActionNames: ['ses:SendEmail'] })),
      'AccessDenied',
    );
    // The platform user cannot simulate the customer's role (another account).
    await rejectsWith(
      h
        .iam(h.platform)
        .send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn, ActionNames: ['ses:SendEmail'] })),
      'AccessDenied',
    );
    await rejectsWith(
      h.iam(h.platform).send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: 'arn:aws:iam::111111111111:role/nope',
          ActionNames: ['ses:SendEmail'],
        }),
      ),
      'NoSuchEntityException',
    );
  });

  test('GetRole in the caller account returns the URL-encoded trust policy', async () => {
    const admin = h.sandbox.admin.createUser({ userName: 'customer-admin' });
    const out = await h.iam(admin).send(new GetRoleCommand({ RoleName: 'SesameSending' }));
    expect(out.Role).toMatchObject({ RoleName: 'SesameSending', Arn: roleArn, MaxSessionDuration: 3600, Path: '/' });
    expect(JSON.parse(decodeURIComponent(out.Role!.AssumeRolePolicyDocument!))).toMatchObject({
      Statement: [{ Condition: { StringEquals: { 'sts:ExternalId': EXTERNAL_ID } } }],
    });
    await rejectsWith(h.iam(admin).send(new GetRoleCommand({ RoleName: 'Nope' })), 'NoSuchEntityException');
  });

  test('a user with policies is limited to them', async () => {
    const limited = h.sandbox.admin.createUser({
      userName: 'reader',
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:Get*', Resource: '*' }] }],
    });
    await h.iam(limited).send(new GetRoleCommand({ RoleName: 'SesameSending' }));
    await rejectsWith(
      h
        .iam(limited)
        .send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn, ActionNames: ['ses:SendEmail'] })),
      'AccessDenied',
    );
  });
});

describe('IAM ListAccessKeys', () => {
  test("lists the signing key's own user's keys with their CreateDate; a role session must name the user", async () => {
    const old = h.sandbox.admin.createUser({ userName: 'old-keys', keyCreatedAt: '2023-01-15T10:00:00.000Z' });
    const out = await h.iam(old).send(new ListAccessKeysCommand({}));
    expect(out.AccessKeyMetadata).toEqual([
      expect.objectContaining({
        UserName: 'old-keys',
        AccessKeyId: old.accessKeyId,
        Status: 'Active',
        CreateDate: new Date('2023-01-15T10:00:00Z'),
      }),
    ]);
    await rejectsWith(h.iam(role).send(new ListAccessKeysCommand({})), 'ValidationError');
  });

  test('needs iam:ListAccessKeys on the user', async () => {
    const ses = {
      Version: '2012-10-17' as const,
      Statement: [{ Effect: 'Allow' as const, Action: 'ses:*', Resource: '*' }],
    };
    const denied = h.sandbox.admin.createUser({ userName: 'ses-only', policies: [ses] });
    await rejectsWith(h.iam(denied).send(new ListAccessKeysCommand({})), 'AccessDenied');
    const allowed = h.sandbox.admin.createUser({
      userName: 'ses-only',
      policies: [
        ses,
        {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow' as const, Action: 'iam:ListAccessKeys', Resource: denied.arn }],
        },
      ],
    });
    const out = await h.iam(allowed).send(new ListAccessKeysCommand({}));
    expect(out.AccessKeyMetadata?.map((k) => k.AccessKeyId)).toEqual([denied.accessKeyId, allowed.accessKeyId]);
  });
});

describe('Secrets Manager', () => {
  test('GetSecretValue by name or ARN; unknown secrets are ResourceNotFoundException', async () => {
    const { arn } = h.sandbox.admin.putSecret({
      name: 'sesame/customer-keys',
      value: JSON.stringify({ accessKeyId: 'AKIA', secretAccessKey: 's' }),
    });
    expect(arn).toMatch(/^arn:aws:secretsmanager:us-east-1:111111111111:secret:sesame\/customer-keys-[A-Za-z]{6}$/);
    const sm = h.secrets(h.platform);
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'sesame/customer-keys' }))).SecretString).toContain(
      'accessKeyId',
    );
    const byArn = await sm.send(new GetSecretValueCommand({ SecretId: arn }));
    expect(byArn).toMatchObject({ ARN: arn, Name: 'sesame/customer-keys', VersionStages: ['AWSCURRENT'] });
    expect(byArn.CreatedDate).toBeInstanceOf(Date);
    await rejectsWith(sm.send(new GetSecretValueCommand({ SecretId: 'nope' })), 'ResourceNotFoundException');
    // Another account cannot read it (no resource policies in the sandbox).
    await rejectsWith(h.secrets(role).send(new GetSecretValueCommand({ SecretId: arn })), 'AccessDeniedException');
  });
});

describe('S3', () => {
  test('put, get and head objects; anonymous reads only from the template bucket', async () => {
    const s3 = h.s3(h.platform);
    const body = 'Resources: {}\n# ünïcode';
    await s3.send(
      new PutObjectCommand({
        Bucket: 'sesame-templates',
        Key: 'v1/role template.yaml',
        Body: body,
        ContentType: 'text/yaml',
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sesame-templates', Key: 'v1/role template.yaml' }));
    expect(await got.Body!.transformToString()).toBe(body);
    expect(got.ContentType).toBe('text/yaml');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'sesame-templates', Key: 'v1/role template.yaml' }));
    expect(head.ContentLength).toBe(Buffer.byteLength(body));
    await rejectsWith(s3.send(new GetObjectCommand({ Bucket: 'sesame-templates', Key: 'missing' })), 'NoSuchKey');
    await rejectsWith(s3.send(new HeadObjectCommand({ Bucket: 'sesame-templates', Key: 'missing' })), 'NotFound');
    await rejectsWith(s3.send(new GetObjectCommand({ Bucket: 'nope', Key: 'x' })), 'NoSuchBucket');
    // The customer's role cannot write into the platform's bucket.
    await rejectsWith(
      h.s3(role).send(new PutObjectCommand({ Bucket: 'sesame-templates', Key: 'x', Body: 'x' })),
      'AccessDenied',
    );
    const anon = await fetch(`${h.url}/sesame-templates/v1/role%20template.yaml`);
    expect(anon.status).toBe(200);
    expect(await anon.text()).toBe(body);
    expect((await fetch(`${h.url}/other-bucket/x`)).status).toBe(403);
  });
});
