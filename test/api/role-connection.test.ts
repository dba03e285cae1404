import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  check,
  connectedRole,
  deployFromQuickCreate,
  type Harness,
  quickCreateParams,
  startHarness,
} from '../helpers/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

describe('role connection (keyless)', () => {
  it('creates a connection with a generated External ID and one-click onboarding links', async () => {
    const res = await h.call('POST', '/v1/connections', {
      name: 'prod',
      region: 'eu-west-1',
      mode: 'role',
      sendDomains: ['example.com'],
    });
    expect(res.status).toBe(201);
    const c = res.json;
    expect(c.mode).toBe('role');
    expect(c.status).toBe('pending_role');
    expect(c.externalId).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(c.role.externalId).toBe(c.externalId);
    const o = c.onboarding;
    expect(o.trustedPrincipalArn).toBe('arn:aws:iam::111111111111:user/sesame-platform');
    expect(o.quickCreateUrl).toContain(`${h.sandboxUrl}/cloudformation/home?region=eu-west-1#/stacks/quickcreate?`);
    const q = quickCreateParams(o.quickCreateUrl);
    expect(q.params.ExternalId).toBe(c.externalId);
    expect(q.params.TrustedPrincipalArn).toBe(o.trustedPrincipalArn);
    expect(q.params.SendFromAddressPatterns).toBe('*@example.com');
    expect(q.stackName).toBe('Sesame-prod');
    // The uploaded template is generic: no External ID inside, so one object serves every connection.
    const template = await (await fetch(q.templateURL)).text();
    expect(template).toContain('AWS::IAM::Role');
    expect(template).not.toContain(c.externalId);

    const second = await h.call('POST', '/v1/connections', { name: 'staging', region: 'eu-west-1', mode: 'role' });
    expect(second.json.externalId).not.toBe(c.externalId);
    expect(quickCreateParams(second.json.onboarding.quickCreateUrl).templateURL).toBe(q.templateURL);
  });

  it('refuses an External ID chosen by the caller', async () => {
    const res = await h.call('POST', '/v1/connections', {
      name: 'prod',
      region: 'us-east-1',
      mode: 'role',
      externalId: 'my-own-choice-of-external-id-value-123',
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('validation_failed');
    expect((await h.call('GET', '/v1/connections')).json.data).toHaveLength(0);
  });

  it('serves the template, Terraform and AWS CLI forms of the role', async () => {
    const c = (await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' })).json;
    const cfn = await h.call('GET', `/v1/connections/${c.id}/cloudformation`);
    expect(cfn.status).toBe(200);
    expect(String(cfn.headers['content-type'])).toContain('yaml');
    expect(cfn.text).toContain(`Default: '${c.externalId}'`);
    // Deployable as is (the per-connection download needs no parameters at all).
    const out = h.sandbox.admin.deployTemplate({
      templateBody: cfn.text,
      stackName: 'Sesame-download',
      capabilities: ['CAPABILITY_NAMED_IAM'],
    });
    expect(out.outputs.RoleArn).toMatch(/^arn:aws:iam::222222222222:role\/SesameSES-prod$/);
    const tf = await h.call('GET', `/v1/connections/${c.id}/terraform`);
    expect(tf.text).toContain('resource "aws_iam_role" "sesame"');
    expect(tf.text).toContain(c.externalId);
    const cli = await h.call('GET', `/v1/connections/${c.id}/aws-cli`);
    expect(cli.text).toContain('aws iam create-role');
    expect(cli.text).toContain('sts:ExternalId');
  });

  it('connects through the quick-create link and passes the connection test', async () => {
    const { id, roleArn } = await connectedRole(h);
    const res = await h.call('POST', `/v1/connections/${id}/test`);
    expect(res.status).toBe(200);
    const report = res.json;
    expect(check(report, 'platform_principal')?.status).toBe('pass');
    expect(check(report, 'role_assumable')?.status).toBe('pass');
    expect(check(report, 'external_id_required')?.status).toBe('pass');
    expect(check(report, 'caller_identity')?.status).toBe('pass');
    expect(check(report, 'region')?.status).toBe('pass');
    expect(check(report, 'ses_sending_enabled')?.status).toBe('pass');
    // A new sandbox SES account is in the SES sandbox: a warning with the fix.
    expect(check(report, 'ses_production_access')).toMatchObject({ status: 'warn' });
    expect(check(report, 'ses_production_access')!.hint).toMatch(/production access/i);
    for (const p of ['send', 'read', 'manage']) expect(check(report, `permissions_${p}`)?.status).toBe('pass');
    expect(report.status).toBe('warn');

    const conn = (await h.call('GET', `/v1/connections/${id}`)).json;
    expect(conn.status).toBe('active');
    expect(conn.role.roleArn).toBe(roleArn);
    expect(conn.health.lastAssumedAt).toBeTruthy();
    expect(Date.parse(conn.health.credentialsExpireAt)).toBeGreaterThan(Date.now());
    expect(conn.health.assumedRoleId).toMatch(/^AROA.+:sesame-conn_.+-read$/);

    // Every STS session is in the audit log, never with a secret.
    const audit = (await h.call('GET', `/v1/audit?connection=${id}&action=sts.*`)).json.data;
    const assumed = audit.filter((a: any) => a.action === 'sts.assume_role');
    expect(assumed.length).toBeGreaterThan(0);
    expect(assumed[0].details).toMatchObject({
      purpose: 'read',
      roleSessionName: expect.stringMatching(/^sesame-conn_.+-read$/),
    });
    // The probe ran when the role ARN was set, and again on the test.
    expect(audit.filter((a: any) => a.action === 'sts.probe').map((a: any) => a.outcome)).toEqual([
      'AccessDenied',
      'AccessDenied',
      'AccessDenied',
      'AccessDenied',
    ]);
    expect(conn.role.safety).toMatchObject({ status: 'proven', lastProbe: 'pass' });
  });

  it('uses session policies: each purpose gets only its own actions', async () => {
    const { id } = await connectedRole(h);
    await h.call('POST', `/v1/connections/${id}/test`);
    const calls = h.sandbox.admin.stsCalls().filter((c) => c.action === 'AssumeRole' && c.outcome === 'ok');
    expect(calls.some((c) => c.roleSessionName?.endsWith('-read'))).toBe(true);
    // A read session cannot send: the session policy narrows the role.
    const read = await h.container.connections.credentials(h.workspaceId, id, 'read');
    const denied = await h.container.gateway.probeSend(read, 'us-east-1', 'a@example.com');
    expect(denied).toBe('denied');
    const send = await h.container.connections.credentials(h.workspaceId, id, 'send');
    expect(await h.container.gateway.probeSend(send, 'us-east-1', 'a@example.com')).toBe('allowed');
  });

  it('fails the confused-deputy probe when the trust policy does not require the External ID', async () => {
    const { id, roleArn } = await connectedRole(h);
    h.sandbox.admin.updateAssumeRolePolicy(roleArn, {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::111111111111:user/sesame-platform' },
          Action: ['sts:AssumeRole', 'sts:SetSourceIdentity'],
        },
      ],
    });
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(report, 'role_assumable')?.status).toBe('pass');
    const probe = check(report, 'external_id_required') as any;
    expect(probe.status).toBe('fail');
    expect(probe.message).toMatch(/without an External ID and with a wrong External ID/);
    expect(probe.hint).toMatch(/sts:ExternalId/);
    expect(report.status).toBe('fail');
    const conn = (await h.call('GET', `/v1/connections/${id}`)).json;
    expect(conn.status).toBe('unsafe');
    expect(conn.role.safety.status).toBe('unsafe');
  });

  it('explains a trust policy that names another principal', async () => {
    const { id } = await connectedRole(
      h,
      'prod',
      {},
      { TrustedPrincipalArn: 'arn:aws:iam::333333333333:role/someone-else' },
    );
    h.clock.advance(11 * 60_000); // no longer a new role: AccessDenied is the trust policy, not propagation
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    const c = check(report, 'role_assumable') as any;
    expect(c.status).toBe('fail');
    expect(c.code).toBe('aws_trust_policy_denied');
    expect(c.message).toContain('is not authorized to perform: sts:AssumeRole');
    expect(c.hint).toMatch(/sesame aws whoami/);
    const conn = (await h.call('GET', `/v1/connections/${id}`)).json;
    expect(conn.health.lastError.code).toBe('AccessDenied');
  });

  it('explains a trust policy without sts:SetSourceIdentity', async () => {
    const { id } = await connectedRole(h, 'prod', {}, { EnableSourceIdentity: 'false' });
    h.clock.advance(11 * 60_000);
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(report, 'role_assumable')).toMatchObject({ status: 'fail', code: 'aws_source_identity_denied' });
    const patched = await h.call('PATCH', `/v1/connections/${id}`, { sourceIdentity: false });
    expect(patched.status).toBe(200);
    const again = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(again, 'role_assumable')?.status).toBe('pass');
  });

  it('reports a missing role ARN and a deleted role', async () => {
    const c = (await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' })).json;
    const r1 = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(r1, 'role_assumable')).toMatchObject({ status: 'fail', code: 'role_arn_missing' });
    const roleArn = await deployFromQuickCreate(h, c.onboarding.quickCreateUrl);
    await h.call('PATCH', `/v1/connections/${c.id}`, { roleArn });
    h.sandbox.admin.deleteRole(roleArn);
    const r2 = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(r2, 'role_assumable')?.status).toBe('fail');
  });

  it('reports missing permissions per purpose', async () => {
    const { id, roleArn } = await connectedRole(h, 'prod', {}, { AllowManage: 'false' });
    h.sandbox.admin.deleteRolePolicy(roleArn, 'SesameSend');
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(report, 'permissions_send')).toMatchObject({ status: 'fail' });
    expect((check(report, 'permissions_send') as any).message).toMatch(/ses:SendEmail/);
    expect(check(report, 'permissions_manage')).toMatchObject({ status: 'warn' });
    expect(check(report, 'permissions_read')?.status).toBe('pass');
  });

  it('reports the SES account state: production, paused sending, enforcement', async () => {
    const { id } = await connectedRole(h);
    h.sandbox.admin.setAccount({
      account: '222222222222',
      region: 'us-east-1',
      productionAccessEnabled: true,
      max24HourSend: 50000,
      maxSendRate: 14,
    });
    let report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(report, 'ses_production_access')?.status).toBe('pass');
    expect((check(report, 'ses_quota') as any).message).toContain('14/s, 50000 per 24 h');
    // Everything passes but the SES event wiring, which is not set up yet.
    expect(
      report.checks.filter((c: { status: string }) => c.status !== 'pass').map((c: { id: string }) => c.id),
    ).toEqual(['events']);
    expect(report.status).toBe('warn');
    h.sandbox.admin.setAccount({
      account: '222222222222',
      region: 'us-east-1',
      sendingEnabled: false,
      enforcementStatus: 'SHUTDOWN',
    });
    report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(report, 'ses_sending_enabled')?.status).toBe('fail');
    expect(check(report, 'ses_enforcement')?.status).toBe('fail');
  });

  it('rotates the External ID: the old stack stops working until it is updated', async () => {
    const { id, externalId } = await connectedRole(h);
    const rotated = await h.call('POST', `/v1/connections/${id}/rotate-external-id`);
    expect(rotated.status).toBe(200);
    expect(rotated.json.role.externalId).not.toBe(externalId);
    expect(rotated.json.status).toBe('pending_update');
    expect(rotated.json.nextSteps.join(' ')).toMatch(/Update the CloudFormation stack/);
    const stale = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(stale, 'role_assumable')?.status).toBe('fail');
    await deployFromQuickCreate(h, rotated.json.onboarding.quickCreateUrl);
    const fresh = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(fresh, 'role_assumable')?.status).toBe('pass');
    const audit = (await h.call('GET', `/v1/audit?action=connection.external_id_rotated`)).json.data;
    expect(audit).toHaveLength(1);
  });

  it('disconnects: drops credentials and returns the revoke-sessions policy', async () => {
    const { id } = await connectedRole(h);
    await h.call('POST', `/v1/connections/${id}/test`);
    const res = await h.call('DELETE', `/v1/connections/${id}`);
    expect(res.status).toBe(200);
    const stmt = res.json.revokeSessionsPolicy.Statement[0];
    expect(stmt).toMatchObject({ Effect: 'Deny', Action: ['*'] });
    expect(Date.parse(stmt.Condition.DateLessThan['aws:TokenIssueTime'])).toBeGreaterThan(0);
    expect((await h.call('GET', `/v1/connections/${id}`)).status).toBe(404);
    expect((await h.call('GET', '/v1/audit?action=connection.deleted')).json.data).toHaveLength(1);
  });
});

describe('template bucket', () => {
  it('says why there is no one-click link when the uploaded template is not readable from outside', async () => {
    const { createOnboarding } = await import('../../src/modules/connections/onboarding.js');
    const o = createOnboarding({
      config: {
        ...h.container.config,
        templateBucket: 'my.dotted.bucket',
        templateBucketRegion: 'eu-west-1',
        endpoints: {},
      },
      platform: h.container.platform,
      gateway: {
        putTemplate: async () => undefined,
        isPubliclyReadable: async (url) => {
          expect(url).toMatch(
            /^https:\/\/s3\.eu-west-1\.amazonaws\.com\/my\.dotted\.bucket\/sesame\/role-[0-9a-f]{16}\.yaml$/,
          );
          return false;
        },
      },
    });
    const c = (await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' })).json;
    const links = await o.links(await h.container.connections.row(h.workspaceId, c.id));
    expect(links.quickCreateUrl).toBeNull();
    expect(links.quickCreateUnavailable?.hint).toMatch(/s3:GetObject/);
    expect(links.manual.steps.length).toBeGreaterThan(3);
  });
});
