import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createContainer } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import { check, connectedRole, type Harness, startHarness } from '../helpers/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const assumeCalls = (suffix: string) =>
  h.sandbox.admin
    .stsCalls()
    .filter((c) => c.action === 'AssumeRole' && c.outcome === 'ok' && c.roleSessionName?.endsWith(suffix)).length;

describe('credential broker, cold', () => {
  it('a freshly started Sesame makes one AssumeRole for 1,000 concurrent first callers', async () => {
    const { id } = await connectedRole(h);
    // A second process on the same database: nothing resolved or cached yet.
    const platform = h.sandbox.admin.platformCredentials();
    const cold = await createContainer(h.container.config, {
      store: h.container.store,
      logger: createLogger('silent'),
      platformCredentials: async () => ({
        accessKeyId: platform.accessKeyId,
        secretAccessKey: platform.secretAccessKey,
      }),
    });
    const before = assumeCalls('-send');
    const keys = await Promise.all(
      Array.from(
        { length: 1000 },
        async () => (await (await cold.connections.credentials(h.workspaceId, id, 'send'))()).accessKeyId,
      ),
    );
    expect(new Set(keys).size).toBe(1);
    expect(assumeCalls('-send') - before).toBe(1);
    await cold.runner.stop();
  });

  it('mints a new session after disconnect-style drop, and only then', async () => {
    const { id } = await connectedRole(h);
    const subject = h.container.connections.subject(await h.container.connections.row(h.workspaceId, id));
    await (
      await h.container.broker.provider(subject, 'read')
    )();
    await (
      await h.container.broker.provider(subject, 'read')
    )();
    const n = assumeCalls('-read');
    h.container.broker.drop(id);
    await (
      await h.container.broker.provider(subject, 'read')
    )();
    expect(assumeCalls('-read')).toBe(n + 1);
  });

  it('clamps sessions to one hour when Sesame itself runs on a role (role chaining)', async () => {
    const { id } = await connectedRole(h, 'prod', { sessionDurationSeconds: 7200 }, { MaxSessionDuration: '7200' });
    // Sesame's own identity becomes an assumed role in its account.
    const platformUser = h.sandbox.admin.platformCredentials();
    const out = h.sandbox.admin.deployTemplate({
      account: '111111111111',
      stackName: 'platform-role',
      capabilities: ['CAPABILITY_NAMED_IAM'],
      templateBody: `Resources:
  R:
    Type: AWS::IAM::Role
    Properties:
      RoleName: sesame-platform-role
      AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: Allow, Principal: { AWS: '${platformUser.arn}' }, Action: 'sts:AssumeRole' }] }
      Policies: [{ PolicyName: all, PolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: Allow, Action: '*', Resource: '*' }] } }]
Outputs:
  RoleArn: { Value: !GetAtt R.Arn }
`,
    });
    const sts = new STSClient({
      region: 'us-east-1',
      endpoint: h.sandboxUrl,
      credentials: { accessKeyId: platformUser.accessKeyId, secretAccessKey: platformUser.secretAccessKey },
    });
    const session = (
      await sts.send(new AssumeRoleCommand({ RoleArn: out.outputs.RoleArn, RoleSessionName: 'sesame-host' }))
    ).Credentials!;
    // The customer's role must now trust the platform role.
    await h.call('DELETE', `/v1/connections/${id}`);
    const chained = await createContainer(
      { ...h.container.config, platformPrincipalArn: out.outputs.RoleArn },
      {
        store: h.container.store,
        logger: createLogger('silent'),
        platformCredentials: async () => ({
          accessKeyId: session.AccessKeyId!,
          secretAccessKey: session.SecretAccessKey!,
          sessionToken: session.SessionToken!,
        }),
      },
    );
    const identity = await chained.platform.identity();
    expect(identity.roleChaining).toBe(true);
    expect(identity.trustedPrincipalArn).toBe(out.outputs.RoleArn);
    const conn = await chained.connections.create(
      h.workspaceId,
      { mode: 'role', name: 'chained', region: 'us-east-1', sessionDurationSeconds: 7200 },
      'test',
    );
    const template = await chained.connections.onboarding.template(
      await chained.connections.row(h.workspaceId, conn.id),
    );
    const roleArn = h.sandbox.admin.deployTemplate({
      templateBody: template,
      stackName: 'Sesame-chained',
      capabilities: ['CAPABILITY_NAMED_IAM'],
    }).outputs.RoleArn!;
    await chained.connections.update(h.workspaceId, conn.id, { roleArn }, 'test');
    const subject = chained.connections.subject(await chained.connections.row(h.workspaceId, conn.id));
    expect(await chained.broker.durationFor(subject)).toBe(3600);
    // …and STS accepts it (asking for 7200 s while chaining would be refused).
    const creds = await (await chained.broker.provider(subject, 'read'))();
    expect(creds.expiration!.getTime() - h.clock.now().getTime()).toBeLessThanOrEqual(3600_000 + 5000);
    await chained.runner.stop();
  });
});

describe('test connection: more checks', () => {
  it('fails when the configured platform principal is in another account', async () => {
    await h.close();
    h = await startHarness({ env: { SESAME_PLATFORM_PRINCIPAL_ARN: 'arn:aws:iam::999999999999:role/sesame' } });
    const c = (await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' })).json;
    const report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(report, 'platform_principal')).toMatchObject({ status: 'fail', code: 'principal_mismatch' });
  });

  it('warns when the daily quota is used up', async () => {
    const { id } = await connectedRole(h);
    h.sandbox.admin.setAccount({
      account: '222222222222',
      region: 'us-east-1',
      productionAccessEnabled: true,
      max24HourSend: 1,
    });
    h.sandbox.admin.verifyIdentity('example.com', { account: '222222222222', region: 'us-east-1' });
    const sent = await h.call('POST', '/v1/emails', {
      from: 'a@example.com',
      to: 'x@customer.test',
      subject: 's',
      text: 't',
    });
    await h.drain();
    expect((await h.call('GET', `/v1/emails/${sent.json.id}`)).json.status).toBe('sent');
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(report, 'ses_quota')).toMatchObject({ status: 'warn' });
    expect(check(report, 'ses_quota')!.message).toContain('0 left');
  });

  it('checks permissions with harmless calls when IAM simulation is not allowed', async () => {
    const { id, roleArn } = await connectedRole(h);
    h.sandbox.admin.putRolePolicy(roleArn, 'SesameRead', {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['ses:GetAccount', 'ses:GetEmailIdentity', 'ses:ListEmailIdentities', 'ses:ListConfigurationSets'],
          Resource: '*',
        },
      ],
    });
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    for (const p of ['send', 'read', 'manage']) {
      expect(check(report, `permissions_${p}`)?.status).toBe('pass');
      expect(check(report, `permissions_${p}`)!.message).toMatch(/harmless/);
    }
    h.sandbox.admin.deleteRolePolicy(roleArn, 'SesameSend');
    const denied = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(denied, 'permissions_send')).toMatchObject({ status: 'fail', code: 'aws_access_denied' });
  });
});

describe('routes', () => {
  it('every /v1 route refuses a request without a key, also through an encoded path', async () => {
    const routeList = (h.app as unknown as { routeList: Array<{ method: string; url: string; access?: string }> })
      .routeList;
    // The exceptions declare it: SNS (its authentication is the message signature) and signing in.
    const paths = routeList
      .filter((r) => r.url.startsWith('/v1/') && r.access !== 'sns' && r.access !== 'public')
      .map((r) => [r.method, r.url.replace(/:(\w+)/g, 'x')] as const);
    expect(paths.length).toBeGreaterThan(20);
    for (const [method, path] of paths) {
      const plain = await h.call(method, path, undefined, { key: null });
      expect(plain.status, `${method} ${path}`).toBe(401);
      const encoded = await h.call(method, path.replace('/v1/', '/%761/'), undefined, { key: null });
      expect(encoded.status, `${method} ${path} (encoded)`).toBe(401);
      // Past the failed-authentication window: each route answers for itself, not the address limit.
      h.clock.advance(60_000);
    }
    const unsigned = await h.call('POST', '/v1/sns/conn_x', undefined, {
      key: null,
      rawBody: '{"Type":"Notification"}',
      headers: { 'content-type': 'text/plain' },
    });
    expect(unsigned.status).toBe(400);
    expect(unsigned.json.error.code).toBe('sns_invalid');
    const malformed = await h.call('GET', '/v1/connections/%E0%A4%A');
    expect(malformed.status).toBe(404);
    expect(malformed.json).toMatchObject({
      error: { code: 'route_not_found', hint: expect.any(String) },
      requestId: expect.stringMatching(/^req_/),
    });
  });
});
