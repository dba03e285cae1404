import { afterEach, describe, expect, it } from 'vitest';
import {
  check,
  connectedRole,
  type Harness,
  sendingSetup,
  startHarness,
  waitFor,
  waitForStatus,
} from '../helpers/harness.js';
import { type FakeEndpoint, startFakeEndpoint } from '../helpers/not-aws.js';

let h: Harness | undefined;
let fake: FakeEndpoint | undefined;
afterEach(async () => {
  await h?.close();
  await fake?.close();
  h = undefined;
  fake = undefined;
});

const DAY = 86_400_000;
const send = async (harness: Harness, to = 'x@customer.test') =>
  harness.call('POST', '/v1/emails', { from: 'app@example.com', to, subject: 's', text: 't' });

/** Sesame with its SES endpoint set (AWS_ENDPOINT_URL_SESV2) to a server that is not AWS. */
async function withWrongSesEndpoint(env: Record<string, string> = {}): Promise<{ h: Harness; fake: FakeEndpoint }> {
  const f = await startFakeEndpoint();
  const harness = await startHarness({ env: { AWS_ENDPOINT_URL_SESV2: f.url, SESAME_WORKER_POLL_MS: '20', ...env } });
  f.upstream = harness.sandboxUrl;
  return { h: harness, fake: f };
}

describe('answers that do not come from AWS', () => {
  it('the connection test and a send name the endpoint that answered an HTML 404 or 500, once, not as an AWS error', async () => {
    ({ h, fake } = await withWrongSesEndpoint());
    const { id } = await connectedRole(h, 'prod');
    for (const status of [404, 500]) {
      fake.answer('/v2/email/', status);
      const before = fake.hits('/v2/email/account');
      const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
      const c = check(report, 'ses_account')!;
      expect(c).toMatchObject({ status: 'fail', code: 'aws_endpoint_not_aws' });
      expect(c.message).toBe(
        `ses:GetAccount was not answered by AWS: ${fake.url}/v2/email/account answered HTTP ${status} (text/html; charset=utf-8) without an AWS request id.`,
      );
      expect(c.hint).toMatch(/AWS_ENDPOINT_URL_SESV2/);
      expect(c.hint).not.toMatch(/transient|retry shortly/i);
      // Not retried by the SDK as a server error.
      expect(fake.hits('/v2/email/account') - before).toBe(1);

      const res = await send(h);
      expect(res.status).toBe(502);
      expect(res.json.error).toMatchObject({
        code: 'aws_endpoint_not_aws',
        details: {
          endpoint: `${fake.url}/v2/email/list-identities`,
          httpStatus: status,
          setting: 'AWS_ENDPOINT_URL_SESV2',
        },
      });
      expect(res.json.error.message).toContain(`HTTP ${status}`);
    }
  });

  it('a send answered by something else pauses the connection and keeps the message queued, tried once', async () => {
    ({ h, fake } = await withWrongSesEndpoint());
    const harness = h;
    const { id: connId } = await sendingSetup(harness);
    fake.answer('/v2/email/outbound-emails', 500);
    const id = (await send(harness)).json.id as string;
    await harness.drain();
    const m = await waitFor(async () => {
      const v = (await harness.call('GET', `/v1/emails/${id}`)).json;
      return v.lastError ? v : undefined;
    }, 'the send to fail');
    expect(m).toMatchObject({ status: 'queued', attempts: 1, lastError: { code: 'aws_endpoint_not_aws' } });
    expect(m.lastError.message).toContain(`${fake.url}/v2/email/outbound-emails answered HTTP 500`);
    expect(m.lastError.hint).toMatch(/AWS_ENDPOINT_URL_SESV2/);
    const conn = (await harness.call('GET', `/v1/connections/${connId}`)).json;
    expect(conn.paused.reason).toMatch(/^aws_endpoint_not_aws: ses:SendEmail was not answered by AWS/);
    expect(fake.hits('/v2/email/outbound-emails')).toBe(1);
    const audit = (await harness.call('GET', '/v1/audit?action=connection.paused')).json.data;
    expect(audit[0]).toMatchObject({ outcome: 'aws_endpoint_not_aws' });

    // The setting fixed, a person resumes the connection and the message goes.
    fake.answer('/v2/email/outbound-emails', null);
    expect((await harness.call('POST', `/v1/connections/${connId}/resume`)).json.paused).toBeNull();
    // Sending sees the resume once its cached view of the connection expires.
    harness.clock.advance(2000);
    await waitForStatus(harness, id, 'sent');
    expect(harness.sandbox.admin.mailbox()).toHaveLength(1);
  });

  it('a gateway error from something else may follow a request it passed on: that message is not sent again on its own', async () => {
    ({ h, fake } = await withWrongSesEndpoint());
    const harness = h;
    const { id: connId } = await sendingSetup(harness);
    fake.answer('/v2/email/outbound-emails', 504);
    const id = (await send(harness)).json.id as string;
    const m = await waitForStatus(harness, id, 'failed');
    expect(m.lastError.code).toBe('send_outcome_unknown');
    expect(m.lastError.message).toContain(`${fake.url}/v2/email/outbound-emails answered HTTP 504`);
    expect((await harness.call('GET', `/v1/connections/${connId}`)).json.paused.reason).toMatch(
      /^aws_endpoint_not_aws/,
    );
  });
});

describe('send-time credential failures mark the connection health', () => {
  it.each([
    ['AccessDeniedException', 1, 'aws_access_denied', 'failed'],
    ['UnrecognizedClientException', 1, 'aws_invalid_client_token', 'failed'],
    // Refused again after the refresh: retried later, but the connection is failing now.
    ['ExpiredTokenException', 2, 'aws_expired_token', 'queued'],
  ])('%s: status failing with the last error, audited once', async (fault, times, code, messageStatus) => {
    h = await startHarness({ env: { SESAME_WORKER_POLL_MS: '20' } });
    const harness = h;
    const { id: connId } = await sendingSetup(harness);
    await harness.call('POST', `/v1/connections/${connId}/test`);
    expect((await harness.call('GET', `/v1/connections/${connId}`)).json.status).toBe('active');
    harness.sandbox.admin.inject('ses', 'SendEmail', fault, times * 2);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const id = (await send(harness)).json.id as string;
      ids.push(id);
      await harness.drain();
      await waitFor(async () => {
        const v = (await harness.call('GET', `/v1/emails/${id}`)).json;
        return v.status === messageStatus && v.lastError?.code === code ? v : undefined;
      }, `message ${messageStatus} with ${code}`);
    }
    const conn = (await harness.call('GET', `/v1/connections/${connId}`)).json;
    expect(conn.status).toBe('failing');
    expect(conn.health.lastError).toMatchObject({ code, message: expect.stringContaining(fault) });
    const audit = (await harness.call('GET', '/v1/audit?action=connection.failing')).json.data;
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      outcome: code,
      actor: 'system',
      details: { source: 'send', messageId: ids[0], previousStatus: 'active' },
    });
  });
});

describe('access key age', () => {
  it("counts from the key's CreateDate in IAM: a three-year-old key warns instead of reading 0 days", async () => {
    h = await startHarness();
    const created = new Date(h.clock.now().getTime() - 3 * 365 * DAY).toISOString();
    const user = h.sandbox.admin.createUser({ userName: 'ses-sender', keyCreatedAt: created });
    const c = (
      await h.call('POST', '/v1/connections', {
        name: 'keys',
        region: 'us-east-1',
        mode: 'access_keys',
        accessKeyId: user.accessKeyId,
        secretAccessKey: user.secretAccessKey,
      })
    ).json;
    expect(c.accessKey).toMatchObject({ createdAt: null, ageKnown: false, ageDays: 0, rotationDue: false });
    const report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    expect(check(report, 'access_key_age')).toMatchObject({
      status: 'warn',
      code: 'access_key_old',
      message: `The access key is 1095 days old (IAM created it on ${created.slice(0, 10)}).`,
    });
    const after = (await h.call('GET', `/v1/connections/${c.id}`)).json;
    expect(after.accessKey).toMatchObject({ ageKnown: true, ageDays: 1095, rotationDue: true });
    expect(Date.parse(after.accessKey.createdAt)).toBe(Date.parse(created.replace(/\.\d{3}Z$/, 'Z')));
    expect(after.warnings.join(' ')).toMatch(/This access key is 1095 days old/);
  });

  it('without iam:ListAccessKeys, says the real age is unknown and counts from the day Sesame first saw the key', async () => {
    h = await startHarness();
    const user = h.sandbox.admin.createUser({
      userName: 'ses-only',
      keyCreatedAt: new Date(h.clock.now().getTime() - 3 * 365 * DAY).toISOString(),
      policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ses:*', Resource: '*' }] }],
    });
    const firstSeen = h.clock.now().toISOString().slice(0, 10);
    const c = (
      await h.call('POST', '/v1/connections', {
        name: 'keys',
        region: 'us-east-1',
        mode: 'access_keys',
        accessKeyId: user.accessKeyId,
        secretAccessKey: user.secretAccessKey,
      })
    ).json;
    h.clock.advance(10 * DAY);
    const report = (await h.call('POST', `/v1/connections/${c.id}/test`)).json;
    const age = check(report, 'access_key_age')!;
    expect(age).toMatchObject({ status: 'warn', code: 'access_key_age_unknown' });
    expect(age.message).toBe(
      `The access key's real age is unknown (the key may not call iam:ListAccessKeys on its own user): it is at least 10 days old, since Sesame first saw it on ${firstSeen}.`,
    );
    expect(age.hint).toContain(`Grant iam:ListAccessKeys on the user itself (Resource ${user.arn})`);
    const view = (await h.call('GET', `/v1/connections/${c.id}`)).json;
    expect(view.accessKey).toMatchObject({ createdAt: null, ageKnown: false, ageDays: 10 });
  });
});

describe('mistakes in what the caller sent', () => {
  it('a refused key pair handed in for rotation answers 422; the same refusal of stored keys stays 502', async () => {
    h = await startHarness();
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
    const next = h.sandbox.admin.createUser({ userName: 'ses-sender' });
    const wrongSecret = await h.call('POST', `/v1/connections/${c.id}/access-keys`, {
      accessKeyId: next.accessKeyId,
      secretAccessKey: 'x'.repeat(40),
    });
    expect(wrongSecret.status).toBe(422);
    expect(wrongSecret.json.error.code).toBe('aws_signature_mismatch');
    expect(wrongSecret.json.error.message).toMatch(/^The credentials you supplied were refused/);

    const stored = (
      await h.call('POST', '/v1/connections', {
        name: 'stored-wrong',
        region: 'us-east-1',
        mode: 'access_keys',
        accessKeyId: user.accessKeyId,
        secretAccessKey: 'x'.repeat(40),
      })
    ).json;
    const res = await h.call('POST', '/v1/emails', {
      connection: stored.id,
      from: 'app@example.com',
      to: 'x@customer.test',
      subject: 's',
      text: 't',
    });
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('aws_signature_mismatch');
  });
});
