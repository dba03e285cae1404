import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { check, type Harness, startHarness } from '../helpers/harness.js';
import { fakeKeyId } from '../helpers/fake-keys.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const DAY = 86_400_000;

describe('access_keys mode', () => {
  it('stores the secret encrypted, never shows it, and tests green', async () => {
    const user = h.sandbox.admin.createUser({ userName: 'ses-sender' });
    const res = await h.call('POST', '/v1/connections', {
      name: 'keys',
      region: 'us-east-1',
      mode: 'access_keys',
      accessKeyId: user.accessKeyId,
      secretAccessKey: user.secretAccessKey,
    });
    expect(res.status).toBe(201);
    expect(res.json.accessKey.accessKeyId).toBe(`AKIA…${user.accessKeyId.slice(-4)}`);
    expect(res.json.warnings.join(' ')).toMatch(/never expire/);
    const report = (await h.call('POST', `/v1/connections/${res.json.id}/test`)).json;
    expect(check(report, 'credentials')?.status).toBe('pass');
    expect((check(report, 'caller_identity') as any).message).toContain(user.arn);
    expect(check(report, 'permissions_send')?.status).toBe('pass');
    expect(check(report, 'access_key_age')?.status).toBe('pass');

    const row = await h.container.store.db
      .selectFrom('connections')
      .selectAll()
      .where('id', '=', res.json.id)
      .executeTakeFirstOrThrow();
    expect(row.secret_ciphertext).not.toContain(user.secretAccessKey);
    expect(JSON.stringify(row)).not.toContain(user.secretAccessKey);
    await h.call('GET', `/v1/connections/${res.json.id}`);
    await h.call('GET', '/v1/connections');
    await h.call('GET', '/v1/audit');
    for (const text of [...h.bodies, ...h.logs]) {
      expect(text).not.toContain(user.secretAccessKey);
      expect(text).not.toContain(user.accessKeyId);
    }
    const auditRows = await h.container.store.db.selectFrom('audit_log').select('details').execute();
    for (const a of auditRows) expect(a.details).not.toContain(user.secretAccessKey);
  });

  it('explains a wrong secret and an unknown key id', async () => {
    const user = h.sandbox.admin.createUser({ userName: 'ses-sender' });
    const wrong = (
      await h.call('POST', '/v1/connections', {
        name: 'wrong',
        region: 'us-east-1',
        mode: 'access_keys',
        accessKeyId: user.accessKeyId,
        secretAccessKey: 'x'.repeat(40),
      })
    ).json;
    const r1 = (await h.call('POST', `/v1/connections/${wrong.id}/test`)).json;
    expect(r1.status).toBe('fail');
    expect(check(r1, 'caller_identity')).toMatchObject({ status: 'fail', code: 'aws_signature_mismatch' });
    const unknown = (
      await h.call('POST', '/v1/connections', {
        name: 'unknown',
        region: 'us-east-1',
        mode: 'access_keys',
        accessKeyId: fakeKeyId('unknown'),
        secretAccessKey: user.secretAccessKey,
      })
    ).json;
    const r2 = (await h.call('POST', `/v1/connections/${unknown.id}/test`)).json;
    expect(check(r2, 'caller_identity')).toMatchObject({ status: 'fail', code: 'aws_invalid_client_token' });
    expect((check(r2, 'caller_identity') as any).hint).toMatch(/access key id does not exist/);
  });

  it('warns about old keys and rotates them: test the new pair, switch, tell the user to deactivate the old one', async () => {
    const user = h.sandbox.admin.createUser({ userName: 'ses-sender' });
    const c = (
      await h.call('POST', '/v1/connections', {
        name: 'keys',
        region: 'us-east-1',
        mode: 'access_keys',
        accessKeyId: user.accessKeyId,
        secretAccessKey: user.secretAccessKey,
      })
    ).json;
    h.clock.advance(91 * DAY);
    const aged = (await h.call('GET', `/v1/connections/${c.id}`)).json;
    expect(aged.accessKey).toMatchObject({ ageDays: 91, rotationDue: true });
    expect(aged.warnings.join(' ')).toMatch(/91 days old/);

    // A bad new pair is the caller's mistake (422, not an upstream 502); the old one stays in use.
    const bad = await h.call('POST', `/v1/connections/${c.id}/access-keys`, {
      accessKeyId: fakeKeyId('unknown'),
      secretAccessKey: 'y'.repeat(40),
    });
    expect(bad.status).toBe(422);
    expect(bad.json.error.code).toBe('aws_invalid_client_token');
    expect((await h.call('GET', `/v1/connections/${c.id}`)).json.accessKey.accessKeyId).toBe(
      `AKIA…${user.accessKeyId.slice(-4)}`,
    );

    const next = h.sandbox.admin.createUser({ userName: 'ses-sender' });
    const rotated = await h.call('POST', `/v1/connections/${c.id}/access-keys`, {
      accessKeyId: next.accessKeyId,
      secretAccessKey: next.secretAccessKey,
    });
    expect(rotated.status).toBe(200);
    expect(rotated.json.accessKey).toMatchObject({
      accessKeyId: `AKIA…${next.accessKeyId.slice(-4)}`,
      ageDays: 0,
      rotationDue: false,
    });
    expect(rotated.json.nextSteps[0]).toMatch(new RegExp(`Deactivate the old key AKIA…${user.accessKeyId.slice(-4)}`));
    expect(rotated.text).not.toContain(next.secretAccessKey);
    const report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(report, 'credentials')?.status).toBe('pass');
    const audit = (await h.call('GET', '/v1/audit?action=connection.access_keys_rotated')).json.data;
    expect(audit.map((a: any) => a.outcome)).toEqual(['ok', 'aws_invalid_client_token']);
  });

  it('refuses temporary or malformed keys', async () => {
    const res = await h.call('POST', '/v1/connections', {
      name: 'k',
      region: 'us-east-1',
      mode: 'access_keys',
      accessKeyId: fakeKeyId('temporary', 'ASIA'),
      secretAccessKey: 'x'.repeat(40),
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/temporary ASIA keys/);
  });
});

describe('default_chain mode', () => {
  it('is refused unless the operator allows it', async () => {
    await h.close();
    h = await startHarness({ env: { SESAME_ALLOW_DEFAULT_CHAIN: 'false' } });
    const res = await h.call('POST', '/v1/connections', { name: 'host', region: 'us-east-1', mode: 'default_chain' });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe('mode_disabled');
    expect(res.json.error.hint).toMatch(/SESAME_ALLOW_DEFAULT_CHAIN/);
  });

  it("uses the host's credentials and says so", async () => {
    const c = (await h.call('POST', '/v1/connections', { name: 'host', region: 'us-east-1', mode: 'default_chain' }))
      .json;
    expect(c.warnings.join(' ')).toMatch(/host credentials/);
    const report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(report, 'credentials')?.status).toBe('pass');
    expect((check(report, 'caller_identity') as any).message).toContain(
      'arn:aws:iam::111111111111:user/sesame-platform',
    );
  });
});

describe('secrets_manager mode', () => {
  it('reads the key pair from the secret with the platform credentials', async () => {
    const user = h.sandbox.admin.createUser({ userName: 'ses-sender' });
    const arn = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:sesame/ses-keys';
    const c = (
      await h.call('POST', '/v1/connections', {
        name: 'sm',
        region: 'us-east-1',
        mode: 'secrets_manager',
        secretArn: arn,
      })
    ).json;
    expect(c.secretBinding.sesameExternalId).toMatch(/^[A-Za-z0-9]{48}$/);
    // Without the binding the secret is refused: a secret ARN alone proves nothing.
    h.sandbox.admin.putSecret({
      name: 'sesame/ses-keys',
      value: JSON.stringify({ accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey }),
    });
    const unbound = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(unbound, 'credentials')).toMatchObject({ status: 'fail', code: 'aws_secret_invalid' });
    expect((check(unbound, 'credentials') as any).message).toMatch(/cannot be used by this connection/);
    h.sandbox.admin.putSecret({
      name: 'sesame/ses-keys',
      value: JSON.stringify({
        accessKeyId: user.accessKeyId,
        secretAccessKey: user.secretAccessKey,
        sesameExternalId: c.secretBinding.sesameExternalId,
      }),
    });
    h.clock.advance(10 * 60_000); // past the secret cache
    const report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(report, 'credentials')?.status).toBe('pass');
    expect((check(report, 'caller_identity') as any).message).toContain(user.arn);
    const audit = (await h.call('GET', '/v1/audit?action=secretsmanager.get_secret_value')).json.data;
    expect(audit.length).toBeGreaterThan(0);
    for (const text of [...h.bodies, ...h.logs]) expect(text).not.toContain(user.secretAccessKey);
  });

  it('explains a secret that is not a key pair, and a missing secret', async () => {
    const { arn } = h.sandbox.admin.putSecret({ name: 'not-keys', value: 'hello' });
    const c = (
      await h.call('POST', '/v1/connections', {
        name: 'sm',
        region: 'us-east-1',
        mode: 'secrets_manager',
        secretArn: arn,
      })
    ).json;
    const report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(report, 'credentials')).toMatchObject({ status: 'fail', code: 'aws_secret_invalid' });
    const missing = (
      await h.call('POST', '/v1/connections', {
        name: 'sm2',
        region: 'us-east-1',
        mode: 'secrets_manager',
        secretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:nope-AbCdEf',
      })
    ).json;
    const r2 = (await h.call('POST', `/v1/connections/${missing.id}/test`)).json;
    expect(check(r2, 'credentials')?.status).toBe('fail');
  });
});
