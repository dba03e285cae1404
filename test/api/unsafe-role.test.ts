import { afterEach, describe, expect, it } from 'vitest';
import {
  check,
  connectedRole,
  deployFromQuickCreate,
  type Harness,
  sendingSetup,
  startHarness,
  waitForStatus,
} from '../helpers/harness.js';
import { smtpError, startRelay } from '../smtp/setup.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const PLATFORM = 'arn:aws:iam::111111111111:user/sesame-platform';
/** A trust policy as a person might write it by hand: Sesame's principal, no External ID condition. */
const openTrust = {
  Version: '2012-10-17' as const,
  Statement: [
    { Effect: 'Allow' as const, Principal: { AWS: PLATFORM }, Action: ['sts:AssumeRole', 'sts:SetSourceIdentity'] },
  ],
};
const mail = (extra: Record<string, unknown> = {}) => ({
  from: 'app@example.com',
  to: 'ann@customer.test',
  subject: 'Hello',
  text: 'Hi',
  ...extra,
});
const assumeRoleCalls = (roleArn: string) =>
  h.sandbox.admin.stsCalls().filter((c) => c.action === 'AssumeRole' && c.roleArn === roleArn);

describe('a role that can be assumed without the External ID is never used', () => {
  it('is found unsafe as soon as its role ARN is set, and refuses sends by API and SMTP before queueing', async () => {
    h = await startHarness();
    const created = await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' });
    const roleArn = await deployFromQuickCreate(h, created.json.onboarding.quickCreateUrl);
    h.sandbox.admin.updateAssumeRolePolicy(roleArn, openTrust);
    h.sandbox.admin.verifyIdentity('example.com', { account: '222222222222', region: 'us-east-1' });

    const patched = await h.call('PATCH', `/v1/connections/${created.json.id}`, { roleArn });
    expect(patched.status).toBe(200);
    const externalId = created.json.externalId as string;
    const condition = `"Condition": {"StringEquals": {"sts:ExternalId": "${externalId}"}}`;
    expect(patched.json.status).toBe('unsafe');
    expect(patched.json.role.safety).toMatchObject({ status: 'unsafe', lastProbe: 'fail', condition });
    expect(patched.json.warnings.join(' ')).toContain(condition);

    const audit = (await h.call('GET', `/v1/audit?connection=${created.json.id}&action=connection.unsafe`)).json.data;
    expect(audit).toHaveLength(1);
    expect(audit[0].outcome).toBe('aws_trust_policy_too_open');
    expect(audit[0].details.reason).toMatch(
      /can be assumed without an External ID and with a wrong External ID: it does not require/,
    );
    expect(audit[0].details.roleArn).toBe(roleArn);

    const before = assumeRoleCalls(roleArn).length;
    const api = await h.call('POST', '/v1/emails', mail());
    expect(api.status).toBe(422);
    expect(api.json.error.code).toBe('connection_unsafe');
    expect(api.json.error.hint).toContain(condition);
    const batch = await h.call('POST', '/v1/emails/batch', { emails: [mail()] });
    expect(batch.json.data[0].error.code).toBe('connection_unsafe');

    const relay = await startRelay(h);
    try {
      const err = await smtpError(relay.client().sendMail(mail()));
      expect(err.responseCode).toBe(550);
      expect(err.response).toMatch(/connection_unsafe: Connection prod is not used/);
    } finally {
      await relay.close();
    }

    // Nothing was queued or stored, and not even the sender check minted credentials.
    expect((await h.call('GET', '/v1/emails')).json.data).toEqual([]);
    expect(await h.container.repos.jobs.depth('send')).toBe(0);
    expect(assumeRoleCalls(roleArn).length).toBe(before);
  });

  it('holds queued messages (not failed, no attempt counted) until a passing test, then sends them', async () => {
    h = await startHarness({ env: { SESAME_WORKER_POLL_MS: '20' } });
    const { id, roleArn } = await sendingSetup(h);
    const other = await connectedRole(h, 'other');
    const safeTrust = h.sandbox.admin.getRole(roleArn)!.assumeRolePolicy;
    const waiting = (await h.call('POST', '/v1/emails', mail({ connection: 'prod' }))).json.id as string;

    // Someone loosens the trust policy; the next test finds it out.
    h.sandbox.admin.updateAssumeRolePolicy(roleArn, openTrust);
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(report, 'external_id_required')).toMatchObject({ status: 'fail', code: 'aws_trust_policy_too_open' });
    expect(check(report, 'external_id_required')!.hint).toContain('"sts:ExternalId"');
    expect((await h.call('GET', `/v1/connections/${id}`)).json.status).toBe('unsafe');
    const refused = await h.call('POST', '/v1/emails', mail({ connection: 'prod' }));
    expect(refused.json.error.code).toBe('connection_unsafe');

    // The worker sends for the other connection, and the waiting message stays queued with no attempt.
    const sendsBefore = assumeRoleCalls(roleArn).filter((c) => c.roleSessionName?.endsWith('-send')).length;
    const through = (await h.call('POST', '/v1/emails', mail({ connection: 'other' }))).json.id;
    await waitForStatus(h, through, 'sent');
    const held = (await h.call('GET', `/v1/emails/${waiting}`)).json;
    expect(held).toMatchObject({ status: 'queued', attempts: 0, connectionId: id });
    expect(h.sandbox.admin.mailbox().map((m) => m.headers['x-sesame-message-id'])).toEqual([through]);
    expect(assumeRoleCalls(roleArn).filter((c) => c.roleSessionName?.endsWith('-send')).length).toBe(sendsBefore);
    expect(other.id).not.toBe(id);

    // The condition is back: a passing test makes the connection usable and the message goes.
    h.sandbox.admin.updateAssumeRolePolicy(roleArn, safeTrust);
    const fixed = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(fixed, 'external_id_required')?.status).toBe('pass');
    const sent = await waitForStatus(h, waiting, 'sent');
    expect(sent.attempts).toBe(1);
    expect(sent.lastError).toBeNull();
    const conn = (await h.call('GET', `/v1/connections/${id}`)).json;
    expect(conn.status).not.toBe('unsafe');
    expect(conn.role.safety.status).toBe('proven');
    const proven = (await h.call('GET', `/v1/audit?connection=${id}&action=connection.proven`)).json.data;
    expect(proven[0].details).toMatchObject({ previously: 'unsafe', roleArn });
  });

  it('mints no send, read or manage credentials for a role connection not yet proven; other modes are unaffected', async () => {
    // The role is still propagating when its ARN is set, so the probe run then cannot judge it.
    h = await startHarness({
      propagationDelayMs: 60_000,
      env: { SESAME_WORKER_POLL_MS: '20', SESAME_PUBLIC_URL: 'https://sesame.example.com' },
    });
    const { id, roleArn } = await connectedRole(h);
    h.sandbox.admin.verifyIdentity('example.com', { account: '222222222222', region: 'us-east-1' });
    h.sandbox.admin.setAccount({ account: '222222222222', region: 'us-east-1', productionAccessEnabled: true });
    h.clock.advance(61_000); // IAM has propagated the role: it could be assumed now
    const conn = (await h.call('GET', `/v1/connections/${id}`)).json;
    expect(conn.role.safety).toMatchObject({ status: 'unproven', lastProbe: 'skip' });
    expect(conn.warnings.join(' ')).toMatch(/only after a test proved that it requires the External ID/);

    const before = assumeRoleCalls(roleArn).length;
    const send = await h.call('POST', '/v1/emails', mail({ connection: 'prod' }));
    expect(send.status).toBe(422);
    expect(send.json.error.code).toBe('connection_not_ready');
    expect(send.json.error.message).toMatch(/requires the External ID/);
    for (const purpose of ['send', 'read', 'manage'] as const)
      await expect(h.container.connections.credentials(h.workspaceId, id, purpose)).rejects.toMatchObject({
        code: 'connection_not_ready',
      });
    const domain = await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' });
    expect(domain.json.error.code).toBe('connection_not_ready');
    const events = await h.call('POST', `/v1/connections/${id}/events`);
    expect(events.json.error.code).toBe('connection_not_ready');
    expect(assumeRoleCalls(roleArn).length).toBe(before);

    // An access-key connection never tested sends as before.
    const user = h.sandbox.admin.createUser({ userName: 'ses-sender' });
    await h.call('POST', '/v1/connections', {
      name: 'keys',
      region: 'us-east-1',
      mode: 'access_keys',
      accessKeyId: user.accessKeyId,
      secretAccessKey: user.secretAccessKey,
    });
    const viaKeys = await h.call('POST', '/v1/emails', mail({ connection: 'keys' }));
    expect(viaKeys.status).toBe(202);
    await waitForStatus(h, viaKeys.json.id, 'sent');

    // The test proves the role, and from then on it is used.
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(report, 'external_id_required')?.status).toBe('pass');
    const ok = await h.call('POST', '/v1/emails', mail({ connection: 'prod' }));
    expect(ok.status).toBe(202);
    await waitForStatus(h, ok.json.id, 'sent');
  });

  it('skips the probe (not pass) for a role that does not exist', async () => {
    h = await startHarness();
    const c = (await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' })).json;
    // The right name in the right form, but no stack was ever created.
    const patched = await h.call('PATCH', `/v1/connections/${c.id}`, {
      roleArn: 'arn:aws:iam::222222222222:role/SesameSES-prod',
    });
    expect(patched.json.role.safety).toMatchObject({ status: 'unproven', lastProbe: 'skip' });
    const report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(report, 'role_assumable')?.status).toBe('fail');
    expect(check(report, 'external_id_required')).toMatchObject({ status: 'skip' });
    expect(check(report, 'external_id_required')!.message).toMatch(/Not judged/);
    // The probe's two AssumeRole calls were not even made: a refusal would have proved nothing.
    expect(h.sandbox.admin.stsCalls().filter((x) => x.action === 'AssumeRole' && !x.externalIdPresent)).toHaveLength(0);
  });
});

describe('a role ARN that is not the role the template creates', () => {
  it('says so at once instead of waiting for IAM propagation', async () => {
    h = await startHarness({ env: { SESAME_PROPAGATION_RETRY_SECONDS: '30' } });
    const c = (await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' })).json;
    const roleArn = await deployFromQuickCreate(h, c.onboarding.quickCreateUrl);
    expect(roleArn).toBe('arn:aws:iam::222222222222:role/SesameSES-prod');

    // A typo in the role name, seconds after the stack was created.
    const typo = await h.call('PATCH', `/v1/connections/${c.id}`, {
      roleArn: 'arn:aws:iam::222222222222:role/SesameSES-prdo',
    });
    expect(typo.json.warnings.join(' ')).toMatch(
      /names the role "SesameSES-prdo", but this connection's template creates "SesameSES-prod"/,
    );
    let start = h.clock.now().getTime();
    let report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(report, 'role_assumable')).toMatchObject({ status: 'fail', code: 'role_arn_mismatch' });
    expect(check(report, 'role_assumable')!.message).toMatch(/template creates "SesameSES-prod"/);
    expect(h.clock.now().getTime() - start).toBe(0); // no backoff slept (sleeping moves this clock)

    // The template's own role name, not created yet: that one may still be propagating, so it is retried.
    h.sandbox.admin.deleteRole(roleArn);
    await h.call('PATCH', `/v1/connections/${c.id}`, { roleArn });
    start = h.clock.now().getTime();
    report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(report, 'role_assumable')).toMatchObject({ status: 'fail', code: 'aws_role_propagating' });
    expect(h.clock.now().getTime() - start).toBeGreaterThanOrEqual(30_000);
  });

  it('says so at once when the role is in another account than the one the connection was proven in', async () => {
    h = await startHarness({ env: { SESAME_PROPAGATION_RETRY_SECONDS: '30' } });
    const { id } = await connectedRole(h);
    expect((await h.call('GET', `/v1/connections/${id}`)).json.role.safety.status).toBe('proven');
    const moved = await h.call('PATCH', `/v1/connections/${id}`, {
      roleArn: 'arn:aws:iam::333333333333:role/SesameSES-prod',
    });
    expect(moved.json.warnings.join(' ')).toMatch(
      /in account 333333333333, but this connection's role was proven in account 222222222222/,
    );
    expect(moved.json.role.safety.status).toBe('unproven');
    const start = h.clock.now().getTime();
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    expect(check(report, 'role_assumable')).toMatchObject({ status: 'fail', code: 'role_arn_mismatch' });
    expect(h.clock.now().getTime() - start).toBe(0);
  });
});
