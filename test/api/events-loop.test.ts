import { afterEach, describe, expect, it } from 'vitest';
import { check, type Harness, sendingSetup, startHarness, waitFor, waitForStatus } from '../helpers/harness.js';

/**
 * The whole loop offline: Sesame wires SES → SNS → itself in the sandbox, the sandbox SES
 * publishes mailbox-simulator outcomes through its SNS, signed as SNS signs, to Sesame's public
 * endpoint over real HTTP.
 */
let h: Harness;
afterEach(async () => {
  await h?.close();
});

async function wired(env: Record<string, string> = {}): Promise<{ connId: string; topicArn: string }> {
  h = await startHarness({ listen: true, env: { SESAME_WORKER_POLL_MS: '20', ...env } });
  const connId = (await sendingSetup(h)).id;
  const res = await h.call('POST', `/v1/connections/${connId}/events`);
  expect(res.status, res.text).toBe(200);
  const topicArn = res.json.topicArn as string;
  await waitFor(
    async () =>
      h.sandbox.admin
        .snsTopics()
        .find((t) => t.arn === topicArn)
        ?.subscriptions.some((s) => s.confirmed),
    'the subscription to be confirmed',
  );
  return { connId, topicArn };
}

async function send(to: string): Promise<string> {
  const res = await h.call('POST', '/v1/emails', { from: 'app@example.com', to, subject: 'hello', text: 'hi' });
  expect(res.status, res.text).toBe(202);
  return res.json.id as string;
}

/** Once the message is sent, SNS delivers its events to Sesame; then they are applied. */
async function outcome(id: string): Promise<any> {
  await waitForStatus(h, id, ['sent', 'delivered', 'delayed', 'bounced', 'complained', 'rejected']);
  await h.sandbox.admin.snsSettled();
  await h.drain();
  return (await h.call('GET', `/v1/emails/${id}`)).json;
}

describe('SES event wiring', () => {
  it('provisions a SignatureVersion 2 topic, a configuration set for every event type and a confirmed subscription; aws test checks it', async () => {
    h = await startHarness({ listen: true });
    const connId = (await sendingSetup(h)).id;
    const before = check((await h.call('POST', `/v1/connections/${connId}/test`)).json, 'events');
    expect(before).toMatchObject({ status: 'warn', code: 'events_not_wired' });

    const res = await h.call('POST', `/v1/connections/${connId}/events`);
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      topicArn: `arn:aws:sns:us-east-1:222222222222:sesame-events-${connId.toLowerCase()}`,
      configurationSet: `sesame-${connId.toLowerCase()}`,
      endpoint: expect.stringMatching(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/v1/sns/${connId}$`)),
      subscription: 'pending_confirmation',
    });
    expect(res.json.notes.join(' ')).toMatch(/plain HTTP/);
    const topicArn = res.json.topicArn as string;
    await waitFor(
      async () => h.sandbox.admin.snsTopics().find((t) => t.arn === topicArn)?.subscriptions[0]?.confirmed,
      'confirmation',
    );
    const topic = h.sandbox.admin.snsTopics().find((t) => t.arn === topicArn)!;
    expect(topic.attributes.SignatureVersion).toBe('2');
    const conn = (await h.call('GET', `/v1/connections/${connId}`)).json;
    expect(conn.snsTopicArns).toEqual([topicArn]);
    expect(conn.configurationSet).toBe(`sesame-${connId.toLowerCase()}`);
    // SNS has the confirmation once Sesame's request reaches it; Sesame audits it after the answer.
    await waitFor(async () => {
      const audit = (await h.call('GET', '/v1/audit?limit=100')).json.data.map((a: { action: string }) => a.action);
      return audit.includes('connection.events_wired') && audit.includes('sns.subscription_confirmed');
    }, 'the confirmation in the audit log');

    const after = check((await h.call('POST', `/v1/connections/${connId}/test`)).json, 'events');
    expect(after?.status, after?.message).toBe('pass');
    expect(after?.message).toMatch(/confirmed/);

    // Setting up again repairs rather than duplicates.
    const again = await h.call('POST', `/v1/connections/${connId}/events`);
    expect(again.json.subscription).toBe('confirmed');
    expect(h.sandbox.admin.snsTopics().find((t) => t.arn === topicArn)!.subscriptions).toHaveLength(1);
  });

  it('the events check warns with the reason when deliveries were refused, complete wiring notwithstanding', async () => {
    const { connId, topicArn } = await wired();
    const post = (m: Record<string, string>) =>
      h.call('POST', `/v1/sns/${connId}`, undefined, {
        key: null,
        rawBody: JSON.stringify(m),
        headers: { 'content-type': 'text/plain; charset=UTF-8' },
      });
    const forged = (id: string, at = h.clock.now()) => ({
      Type: 'Notification',
      MessageId: id,
      TopicArn: topicArn,
      Message: '{"eventType":"Bounce"}',
      Timestamp: at.toISOString(),
      SignatureVersion: '2',
      Signature: Buffer.from('not a signature').toString('base64'),
      SigningCertURL: `https://sns.us-east-1.amazonaws.com/${h.sandbox.admin.snsCertificate().certFile}`,
    });
    expect((await post(forged('f-1'))).status).toBe(403);
    expect((await post(forged('f-2'))).status).toBe(403);
    expect((await post(forged('f-3', new Date(h.clock.now().getTime() - 2 * 3600_000)))).status).toBe(400);

    const c = check((await h.call('POST', `/v1/connections/${connId}/test`)).json, 'events');
    expect(c).toMatchObject({
      status: 'warn',
      code: 'sns_signature_invalid',
      hint: 'The message was altered or not signed by Amazon SNS.',
    });
    expect(c?.message).toMatch(
      /, confirmed\. But 3 deliveries refused in the last 24 h: sns_signature_invalid ×2 \(last at [^,]+, topic arn:aws:sns:[^)]+\), sns_stale ×1 /,
    );
  });

  it('repairs a setup that failed half-way: the configuration set is made before the connection uses it', async () => {
    h = await startHarness({ listen: true });
    const connId = (await sendingSetup(h)).id;
    h.sandbox.admin.inject('ses', 'CreateConfigurationSet', 'AccessDeniedException');
    const failed = await h.call('POST', `/v1/connections/${connId}/events`);
    expect(failed.json.error.code).toBe('aws_access_denied');
    expect((await h.call('GET', `/v1/connections/${connId}`)).json.configurationSet).toBeNull(); // sends are not pointed at a missing set
    const again = await h.call('POST', `/v1/connections/${connId}/events`);
    expect(again.status, again.text).toBe(200);
    // The subscription is confirmed before the send, so the delivery event has somewhere to go.
    await h.sandbox.admin.snsSettled();
    const id = (
      await h.call('POST', '/v1/emails', {
        from: 'app@example.com',
        to: 'success@simulator.amazonses.com',
        subject: 's',
        text: 't',
      })
    ).json.id;
    await waitForStatus(h, id, 'delivered');
  });

  it('says what to set when Sesame has no public URL', async () => {
    h = await startHarness();
    const connId = (await sendingSetup(h)).id;
    const res = await h.call('POST', `/v1/connections/${connId}/events`);
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('public_url_missing');
    expect(res.json.error.hint).toMatch(/SESAME_PUBLIC_URL/);
  });

  it('never confirms a subscription it cannot verify: without the sandbox certificate it answers 503 (SNS retries) and stays unconfirmed', async () => {
    h = await startHarness({ listen: true, env: { SESAME_SNS_CERT_DIR: '/nonexistent-cert-dir' } });
    const connId = (await sendingSetup(h)).id;
    const res = await h.call('POST', `/v1/connections/${connId}/events`);
    await h.sandbox.admin.snsSettled();
    const deliveries = h.sandbox.admin.snsDeliveries();
    expect(deliveries).toEqual([
      expect.objectContaining({ type: 'SubscriptionConfirmation', status: 503, attempts: 3 }),
    ]);
    expect(h.sandbox.admin.snsTopics().find((t) => t.arn === res.json.topicArn)!.subscriptions[0]!.confirmed).toBe(
      false,
    );
    const c = check((await h.call('POST', `/v1/connections/${connId}/test`)).json, 'events');
    expect(c).toMatchObject({ status: 'warn' });
    expect(c?.message).toMatch(/not confirmed/);
    // Why: SNS was told, and so is the person reading the report.
    expect(c?.message).toMatch(/Also, 3 deliveries refused in the last 24 h: sns_cert_unavailable ×3/);
  });
});

describe('the mailbox simulator through the sandbox SNS', () => {
  it('bounce@ → bounce event → recipient suppressed → the next send to it is suppressed', async () => {
    await wired();
    const id = await send('bounce@simulator.amazonses.com');
    const m = await outcome(id);
    expect(m.status).toBe('bounced');
    expect(m.events.map((e: { kind: string }) => e.kind).sort()).toEqual(['bounce', 'send']);
    expect(m.events.find((e: { kind: string }) => e.kind === 'bounce')).toMatchObject({
      recipients: ['bounce@simulator.amazonses.com'],
      details: expect.objectContaining({ type: 'Permanent' }),
    });
    const supp = (await h.call('GET', '/v1/suppressions?email=bounce@simulator')).json.data;
    expect(supp).toEqual([expect.objectContaining({ email: 'bounce@simulator.amazonses.com', reason: 'bounce' })]);
    const next = await h.call('POST', '/v1/emails', {
      from: 'app@example.com',
      to: 'bounce@simulator.amazonses.com',
      subject: 'again',
      text: 'hi',
    });
    expect(next.json.status).toBe('suppressed');
  });

  it('success@ is delivered, complaint@ complained (and suppressed), suppressionlist@ bounced', async () => {
    await wired();
    const ok = await send('success@simulator.amazonses.com');
    const complaint = await send('complaint@simulator.amazonses.com');
    const listed = await send('suppressionlist@simulator.amazonses.com');
    expect((await outcome(ok)).status).toBe('delivered');
    const c = await outcome(complaint);
    expect(c.status).toBe('complained');
    expect(c.events.map((e: { kind: string }) => e.kind).sort()).toEqual(['complaint', 'delivery', 'send']);
    const l = await outcome(listed);
    expect(l.status).toBe('bounced');
    expect(l.events.find((e: { kind: string }) => e.kind === 'bounce').details).toMatchObject({
      subType: 'OnAccountSuppressionList',
    });
    const reasons = (await h.call('GET', '/v1/suppressions')).json.data
      .map((s: { email: string; reason: string }) => `${s.email}:${s.reason}`)
      .sort();
    expect(reasons).toEqual([
      'complaint@simulator.amazonses.com:complaint',
      'suppressionlist@simulator.amazonses.com:bounce',
    ]);
  });
});
