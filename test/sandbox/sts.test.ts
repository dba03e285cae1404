import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { GetAccountCommand, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EXTERNAL_ID, ROLE_TEMPLATE, rejectsWith, startSandbox, type Harness } from './helpers.js';
import { fakeKeyId } from '../helpers/fake-keys.js';

let h: Harness;
let roleArn: string;
const PLATFORM_ARN = 'arn:aws:iam::111111111111:user/sesame-platform';

beforeAll(async () => {
  h = await startSandbox();
  roleArn = h.sandbox.admin.deployTemplate({
    templateBody: ROLE_TEMPLATE,
    stackName: 'sesame',
    parameters: { ExternalId: EXTERNAL_ID, TrustedPrincipalArn: PLATFORM_ARN, MaxSessionDuration: '7200' },
    capabilities: ['CAPABILITY_NAMED_IAM'],
  }).outputs['RoleArn']!;
});
afterAll(() => h.sandbox.close());

describe('SigV4 authentication through the real SDK', () => {
  test('a correctly signed call is answered', async () => {
    const id = await h.sts().send(new GetCallerIdentityCommand({}));
    expect(id).toMatchObject({ Account: '111111111111', Arn: PLATFORM_ARN });
    expect(id.UserId).toMatch(/^AIDA/);
  });

  test('wrong secret → SignatureDoesNotMatch; unknown key → InvalidClientTokenId', async () => {
    const bad = {
      ...h.platform,
      secretAccessKey: h.platform.secretAccessKey.slice(0, -1) + (h.platform.secretAccessKey.endsWith('X') ? 'Y' : 'X'),
    };
    const e = await rejectsWith(h.sts(bad).send(new GetCallerIdentityCommand({})), 'SignatureDoesNotMatch');
    expect(e.$metadata?.httpStatusCode).toBe(403);
    await rejectsWith(
      h
        .sts({ accessKeyId: fakeKeyId('nobody'), secretAccessKey: 'x'.repeat(40) })
        .send(new GetCallerIdentityCommand({})),
      'InvalidClientTokenId',
    );
    // The JSON services use their own names for the same failures.
    await rejectsWith(h.ses(bad).send(new GetAccountCommand({})), 'InvalidSignatureException');
    await rejectsWith(
      h.ses({ accessKeyId: fakeKeyId('nobody'), secretAccessKey: 'x'.repeat(40) }).send(new GetAccountCommand({})),
      'UnrecognizedClientException',
    );
  });

  test('temporary keys need their own session token', async () => {
    const c = await h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID });
    const { sessionToken: _t, ...noToken } = c;
    await rejectsWith(h.sts(noToken).send(new GetCallerIdentityCommand({})), 'InvalidClientTokenId');
    await rejectsWith(
      h.sts({ ...c, sessionToken: c.sessionToken + 'x' }).send(new GetCallerIdentityCommand({})),
      'InvalidClientTokenId',
    );
    // A long-term key with a token is refused too.
    await rejectsWith(
      h.sts({ ...h.platform, sessionToken: 'abc' }).send(new GetCallerIdentityCommand({})),
      'InvalidClientTokenId',
    );
  });

  test('credentials expire when the injected clock moves', async () => {
    const c = await h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, DurationSeconds: 900 });
    await h.sts(c).send(new GetCallerIdentityCommand({}));
    h.clock.advance(901_000);
    try {
      // The SDK corrects its clock from the Date header (one clock-skew retry), then sees the expiry.
      const client = h.sts(c);
      client.config.systemClockOffset = 901_000;
      await rejectsWith(client.send(new GetCallerIdentityCommand({})), 'ExpiredToken');
      const ses = h.ses(c);
      ses.config.systemClockOffset = 901_000;
      await rejectsWith(ses.send(new GetAccountCommand({})), 'ExpiredTokenException');
    } finally {
      h.clock.advance(-901_000);
    }
  });

  test('requests signed more than 15 minutes off are refused', async () => {
    const client = h.sts();
    client.config.systemClockOffset = -20 * 60_000;
    // Turn off the SDK's own skew correction by not letting it retry.
    const err = await rejectsWith(client.send(new GetCallerIdentityCommand({})), 'SignatureDoesNotMatch');
    expect(err.message).toMatch(/Signature expired/);
  });
});

describe('AssumeRole', () => {
  test('with the right External ID returns ASIA credentials for the role', async () => {
    const before = h.sandbox.admin.stsCalls().length;
    const out = await h.sts().send(
      new (await import('@aws-sdk/client-sts')).AssumeRoleCommand({
        RoleArn: roleArn,
        RoleSessionName: 'conn-1',
        ExternalId: EXTERNAL_ID,
      }),
    );
    expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(out.Credentials?.Expiration?.getTime()).toBeGreaterThan(h.clock.now().getTime() + 3500_000);
    expect(out.AssumedRoleUser?.Arn).toBe('arn:aws:sts::222222222222:assumed-role/SesameSending/conn-1');
    expect(out.AssumedRoleUser?.AssumedRoleId).toMatch(/^AROA[A-Z0-9]+:conn-1$/);
    const calls = h.sandbox.admin.stsCalls().slice(before);
    expect(calls).toEqual([
      expect.objectContaining({
        action: 'AssumeRole',
        roleArn,
        roleSessionName: 'conn-1',
        externalIdPresent: true,
        outcome: 'ok',
        callerArn: PLATFORM_ARN,
      }),
    ]);
    expect(JSON.stringify(calls)).not.toContain(EXTERNAL_ID);
  });

  test('missing or wrong External ID, or the wrong principal, is AccessDenied', async () => {
    const msg = `User: ${PLATFORM_ARN} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`;
    expect((await rejectsWith(h.assume({ RoleArn: roleArn }), 'AccessDenied')).message).toBe(msg);
    await rejectsWith(h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID + 'x' }), 'AccessDenied');
    const other = h.sandbox.admin.createUser({ account: '111111111111', userName: 'intruder' });
    await rejectsWith(h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID }, other), 'AccessDenied');
    await rejectsWith(
      h.assume({ RoleArn: 'arn:aws:iam::222222222222:role/DoesNotExist', ExternalId: EXTERNAL_ID }),
      'AccessDenied',
    );
    expect(h.sandbox.admin.stsCalls().filter((c) => c.outcome === 'AccessDenied').length).toBeGreaterThanOrEqual(4);
  });

  test('SourceIdentity needs sts:SetSourceIdentity; session tags need sts:TagSession', async () => {
    const out = await h.sts().send(
      new (await import('@aws-sdk/client-sts')).AssumeRoleCommand({
        RoleArn: roleArn,
        RoleSessionName: 'src',
        ExternalId: EXTERNAL_ID,
        SourceIdentity: 'sesame-conn-1',
      }),
    );
    expect(out.SourceIdentity).toBe('sesame-conn-1');
    await rejectsWith(
      h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, Tags: [{ Key: 'team', Value: 'mail' }] }),
      'AccessDenied',
    );
    const role = h.sandbox.admin.getRole(roleArn)!;
    const tagTrust = JSON.parse(
      JSON.stringify(role.assumeRolePolicy).replace('"sts:SetSourceIdentity"', '"sts:TagSession"'),
    );
    h.sandbox.admin.updateAssumeRolePolicy(roleArn, tagTrust);
    try {
      await h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, Tags: [{ Key: 'team', Value: 'mail' }] });
      await rejectsWith(
        h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, SourceIdentity: 'x-conn' }),
        'AccessDenied',
      );
    } finally {
      h.sandbox.admin.updateAssumeRolePolicy(roleArn, role.assumeRolePolicy);
    }
  });

  test('validates names, External ID shape and DurationSeconds', async () => {
    await rejectsWith(h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, RoleSessionName: 'a' }), 'ValidationError');
    await rejectsWith(
      h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, RoleSessionName: 'has space' }),
      'ValidationError',
    );
    await rejectsWith(h.assume({ RoleArn: roleArn, ExternalId: 'bad id!' }), 'ValidationError');
    await rejectsWith(h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, DurationSeconds: 899 }), 'ValidationError');
    await h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, DurationSeconds: 7200 });
    const e = await rejectsWith(
      h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, DurationSeconds: 7201 }),
      'ValidationError',
    );
    expect(e.message).toMatch(/MaxSessionDuration/);
    await rejectsWith(
      h.assume({
        RoleArn: roleArn,
        ExternalId: EXTERNAL_ID,
        Policy: JSON.stringify({
          Statement: [{ Effect: 'Allow', Action: 'ses:*', Resource: '*', Sid: 'x'.repeat(2100) }],
        }),
      }),
      'PackedPolicyTooLargeException',
    ); // the SDK names the modelled PackedPolicyTooLarge code so
  });

  test('role chaining is capped at one hour', async () => {
    // A platform-side role (as when Sesame runs with a task role) that may assume the customer role.
    const platformRole = h.sandbox.admin.deployTemplate({
      account: '111111111111',
      stackName: 'platform-task',
      capabilities: ['CAPABILITY_IAM'],
      templateBody: `Resources:
  Task:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: { Statement: [{ Effect: Allow, Principal: { AWS: '${PLATFORM_ARN}' }, Action: 'sts:AssumeRole' }] }
      Policies: [{ PolicyName: chain, PolicyDocument: { Statement: [{ Effect: Allow, Action: 'sts:AssumeRole', Resource: '*' }] } }]
Outputs:
  Arn: { Value: !GetAtt Task.Arn }
`,
    }).outputs['Arn']!;
    const trust = h.sandbox.admin.getRole(roleArn)!.assumeRolePolicy;
    const chained = JSON.parse(
      JSON.stringify(trust).replace(`"${PLATFORM_ARN}"`, `["${PLATFORM_ARN}","${platformRole}"]`),
    );
    h.sandbox.admin.updateAssumeRolePolicy(roleArn, chained);
    try {
      const task = await h.assume({ RoleArn: platformRole });
      await h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, DurationSeconds: 3600 }, task);
      const e = await rejectsWith(
        h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID, DurationSeconds: 3601 }, task),
        'ValidationError',
      );
      expect(e.message).toMatch(/role chaining/);
    } finally {
      h.sandbox.admin.updateAssumeRolePolicy(roleArn, trust);
    }
  });

  test('a session policy narrows the session: a read session cannot send', async () => {
    h.sandbox.admin.verifyIdentity('example.com');
    h.sandbox.admin.verifyIdentity('rcpt@example.net');
    const read = await h.assume({
      RoleArn: roleArn,
      ExternalId: EXTERNAL_ID,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['ses:GetAccount', 'ses:List*'], Resource: '*' }],
      }),
    });
    await h.ses(read).send(new GetAccountCommand({}));
    const e = await rejectsWith(
      h.ses(read).send(
        new SendEmailCommand({
          FromEmailAddress: 'a@example.com',
          Destination: { ToAddresses: ['rcpt@example.net'] },
          Content: { Simple: { Subject: { Data: 's' }, Body: { Text: { Data: 't' } } } },
        }),
      ),
      'AccessDeniedException',
    );
    expect(e.message).toMatch(/not authorized to perform: ses:SendEmail/);
  });

  test('a role is not assumable while IAM propagates it', async () => {
    h.sandbox.admin.setPropagationDelay(10_000);
    try {
      const arn = h.sandbox.admin.deployTemplate({
        templateBody: ROLE_TEMPLATE,
        stackName: 'fresh',
        parameters: { ExternalId: EXTERNAL_ID, TrustedPrincipalArn: PLATFORM_ARN, RoleName: 'Fresh' },
        capabilities: ['CAPABILITY_NAMED_IAM'],
      }).outputs['RoleArn']!;
      await rejectsWith(h.assume({ RoleArn: arn, ExternalId: EXTERNAL_ID }), 'AccessDenied');
      h.clock.advance(10_000);
      await h.assume({ RoleArn: arn, ExternalId: EXTERNAL_ID });
    } finally {
      h.sandbox.admin.setPropagationDelay(0);
    }
  });
});
