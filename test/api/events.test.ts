import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, sendingSetup, startHarness, waitForStatus } from '../helpers/harness.js';
import { serverRoles, workerRoles } from '../../src/main.js';
import { CERT_PATH, sesEvent, snsSigner } from '../helpers/sns.js';

const TOPIC = 'arn:aws:sns:us-east-1:222222222222:sesame-events';
let signer: ReturnType<typeof snsSigner>;
let h: Harness;
let connId: string;

beforeAll(() => {
  signer = snsSigner();
});
beforeEach(async () => {
  h = await startHarness({ env: { SESAME_SNS_CERT_DIR: signer.certDir, SESAME_WORKER_POLL_MS: '20' } });
  connId = (await sendingSetup(h)).id;
  await h.call('PATCH', `/v1/connections/${connId}`, { snsTopicArns: [TOPIC] });
});
afterEach(async () => {
  await h.close();
});
afterAll(() => undefined);

const post = (body: unknown, conn = connId) =>
  h.call('POST', `/v1/sns/${conn}`, undefined, {
    key: null,
    rawBody: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'text/plain; charset=UTF-8' },
  });
const stored = async () =>
  Number(
    (
      await h.container.store.db
        .selectFrom('sns_messages')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

async function sentMessage(to: string): Promise<{ id: string; ses: string }> {
  const id = (await h.call('POST', '/v1/emails', { from: 'app@example.com', to, subject: 's', text: 't' })).json.id;
  const m = await waitForStatus(h, id, 'sent');
  return { id, ses: m.sesMessageId };
}

describe('POST /v1/sns/:connectionId', () => {
  it('stores a verified notification and applies it: timeline, status, suppression, and the next send is suppressed', async () => {
    const { id, ses } = await sentMessage('gone@customer.test');
    const res = await post(
      signer.sign({ TopicArn: TOPIC, Message: sesEvent('Bounce', ses, id, 'gone@customer.test') }),
    );
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('stored');
    await h.drain();
    const m = (await h.call('GET', `/v1/emails/${id}`)).json;
    expect(m.status).toBe('bounced');
    expect(m.events).toEqual([
      expect.objectContaining({
        kind: 'bounce',
        recipients: ['gone@customer.test'],
        details: expect.objectContaining({ type: 'Permanent' }),
      }),
    ]);
    const supp = (await h.call('GET', '/v1/suppressions?email=gone')).json.data;
    expect(supp).toEqual([
      expect.objectContaining({ email: 'gone@customer.test', reason: 'bounce', source: `ses:${ses}` }),
    ]);
    const next = await h.call('POST', '/v1/emails', {
      from: 'app@example.com',
      to: 'gone@customer.test',
      subject: 's',
      text: 't',
    });
    expect(next.json.status).toBe('suppressed');
  });

  it('audits every address a bounce or complaint suppresses, once, with the event as its source', async () => {
    const { id, ses } = await sentMessage('gone@customer.test');
    const bounce = () =>
      post(signer.sign({ TopicArn: TOPIC, Message: sesEvent('Bounce', ses, id, 'gone@customer.test') }));
    await bounce();
    await h.drain();
    const audited = async () => (await h.call('GET', '/v1/audit?action=suppression.added')).json.data;
    expect(await audited()).toEqual([
      expect.objectContaining({
        actor: 'system',
        action: 'suppression.added',
        details: { email: 'gone@customer.test', reason: 'bounce', source: 'event', sesMessageId: ses },
      }),
    ]);
    // SES reporting the address again (a second bounce, then a complaint) adds nothing and audits nothing.
    await bounce();
    await post(signer.sign({ TopicArn: TOPIC, Message: sesEvent('Complaint', ses, id, 'gone@customer.test') }));
    await h.drain();
    expect(await audited()).toHaveLength(1);
    expect((await h.call('GET', '/v1/suppressions?email=gone')).json.data).toHaveLength(1);
  });

  it('accepts SignatureVersion 1 and 2; complaints suppress; events apply in any order', async () => {
    const a = await sentMessage('a@customer.test');
    await post(signer.sign({ TopicArn: TOPIC, Message: sesEvent('Complaint', a.ses, null, 'a@customer.test') }, '1'));
    await post(signer.sign({ TopicArn: TOPIC, Message: sesEvent('Delivery', a.ses, null, 'a@customer.test') }, '2'));
    await h.drain();
    expect((await h.call('GET', `/v1/emails/${a.id}`)).json.events).toHaveLength(2);
    expect((await h.call('GET', `/v1/emails/${a.id}`)).json.status).toBe('complained'); // the delivery that came later does not undo it
    expect((await h.call('GET', '/v1/suppressions?email=a@customer')).json.data[0].reason).toBe('complaint');
    const b = await sentMessage('b@customer.test');
    await post(signer.sign({ TopicArn: TOPIC, Message: sesEvent('DeliveryDelay', b.ses, null, 'b@customer.test') }));
    await h.drain();
    expect((await h.call('GET', `/v1/emails/${b.id}`)).json.status).toBe('delayed');
    await post(signer.sign({ TopicArn: TOPIC, Message: sesEvent('Delivery', b.ses, null, 'b@customer.test') }));
    await h.drain();
    expect((await h.call('GET', `/v1/emails/${b.id}`)).json.status).toBe('delivered');
  });

  it('keeps events of messages it does not know, and stores a non-SES notification as such', async () => {
    expect(
      (
        await post(
          signer.sign({ TopicArn: TOPIC, Message: sesEvent('Delivery', 'unknown-ses-id', null, 'x@customer.test') }),
        )
      ).status,
    ).toBe(200);
    expect((await post(signer.sign({ TopicArn: TOPIC, Message: 'hello, not SES' }))).status).toBe(200);
    await h.drain();
    const events = await h.container.store.db.selectFrom('message_events').selectAll().execute();
    expect(events).toEqual([
      expect.objectContaining({ message_id: null, ses_message_id: 'unknown-ses-id', kind: 'delivery' }),
    ]);
    const outcomes = (await h.container.store.db.selectFrom('sns_messages').select('outcome').execute())
      .map((r) => r.outcome)
      .sort();
    expect(outcomes).toEqual(['applied', 'not_ses']);
  });

  it('suppresses after repeated transient bounces only', async () => {
    const { id, ses } = await sentMessage('full@customer.test');
    for (let i = 0; i < 2; i++)
      await post(
        signer.sign({
          TopicArn: TOPIC,
          Message: sesEvent('Bounce', ses, id, 'full@customer.test', {
            bounceType: 'Transient',
            bounceSubType: 'MailboxFull',
          }),
        }),
      );
    await h.drain();
    expect((await h.call('GET', `/v1/emails/${id}`)).json.events).toHaveLength(2);
    expect((await h.call('GET', '/v1/suppressions?email=full')).json.data).toEqual([]);
    await post(
      signer.sign({
        TopicArn: TOPIC,
        Message: sesEvent('Bounce', ses, id, 'full@customer.test', {
          bounceType: 'Transient',
          bounceSubType: 'MailboxFull',
        }),
      }),
    );
    await h.drain();
    expect((await h.call('GET', '/v1/suppressions?email=full')).json.data).toHaveLength(1);
  });

  it("counts only the address's own transient bounces: `_` in an address matches nothing else", async () => {
    const other = await sentMessage('a-b@customer.test');
    for (let i = 0; i < 2; i++)
      await post(
        signer.sign({
          TopicArn: TOPIC,
          Message: sesEvent('Bounce', other.ses, other.id, 'a-b@customer.test', {
            bounceType: 'Transient',
            bounceSubType: 'MailboxFull',
          }),
        }),
      );
    const mine = await sentMessage('a_b@customer.test');
    await post(
      signer.sign({
        TopicArn: TOPIC,
        Message: sesEvent('Bounce', mine.ses, mine.id, 'a_b@customer.test', {
          bounceType: 'Transient',
          bounceSubType: 'MailboxFull',
        }),
      }),
    );
    await h.drain();
    expect((await h.call('GET', `/v1/emails/${mine.id}`)).json.events).toHaveLength(1);
    expect((await h.call('GET', '/v1/suppressions?email=a_b')).json.data).toEqual([]);
  });

  it('refuses forged, foreign, stale and replayed notifications with nothing stored', async () => {
    const good = signer.sign({ TopicArn: TOPIC, Message: sesEvent('Delivery', 'x', null, 'x@customer.test') });
    const cases: Array<[string, unknown, number, string]> = [
      [
        'tampered message',
        { ...good, Message: good.Message.replace('Delivery', 'Bounce') },
        403,
        'sns_signature_invalid',
      ],
      ['tampered topic', { ...good, TopicArn: `${TOPIC}x` }, 403, 'sns_signature_invalid'],
      [
        'another host for the certificate',
        { ...good, SigningCertURL: 'https://sns.us-east-1.amazonaws.com.evil.test/x.pem' },
        400,
        'sns_cert_url_invalid',
      ],
      [
        'http certificate URL',
        { ...good, SigningCertURL: good.SigningCertURL.replace('https', 'http') },
        400,
        'sns_cert_url_invalid',
      ],
      [
        'a topic not on the allow-list',
        signer.sign({ TopicArn: 'arn:aws:sns:us-east-1:333333333333:other', Message: 'x' }),
        403,
        'sns_topic_not_allowed',
      ],
      [
        'stale',
        signer.sign({ TopicArn: TOPIC, Message: 'x', Timestamp: new Date(Date.now() - 2 * 3600_000).toISOString() }),
        400,
        'sns_stale',
      ],
      [
        'dated more than 5 minutes ahead',
        signer.sign({ TopicArn: TOPIC, Message: 'x', Timestamp: new Date(Date.now() + 10 * 60_000).toISOString() }),
        400,
        'sns_future',
      ],
      ['not JSON', 'hello', 400, 'sns_invalid'],
    ];
    for (const [label, body, status, code] of cases) {
      const res = await post(body);
      expect(res.status, label).toBe(status);
      expect(res.json.error.code, label).toBe(code);
    }
    expect(await stored()).toBe(0);
    expect((await post(good)).status).toBe(200);
    const replay = await post(good);
    expect(replay.status).toBe(409);
    expect(replay.json.error.code).toBe('sns_duplicate');
    expect(await stored()).toBe(1);
    expect((await post(good, 'conn_nope')).status).toBe(404);
  });

  it('confirms subscriptions only for its own topics and only on SNS hosts', async () => {
    const confirmed: string[] = [];
    const { createSnsInbox } = await import('../../src/modules/events/inbox.js');
    const inbox = createSnsInbox({
      notifications: h.container.repos.snsMessages,
      connection: async (id) => (id === connId ? { workspaceId: h.workspaceId, snsTopicArns: [TOPIC] } : undefined),
      clock: h.clock,
      verifier: { verify: async (b) => JSON.parse(String(b)) },
      audit: h.container.audit,
      logger: h.container.logger,
      confirm: async (u) => void confirmed.push(u.toString()),
    });
    const conf = (topic: string, url: string) =>
      JSON.stringify({
        Type: 'SubscriptionConfirmation',
        MessageId: 'm1',
        TopicArn: topic,
        SubscribeURL: url,
        Token: 't',
        Message: 'm',
        Timestamp: new Date().toISOString(),
      });
    await expect(
      inbox.receive(
        connId,
        conf(TOPIC, 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t'),
      ),
    ).resolves.toMatchObject({ status: 'confirmed' });
    await expect(
      inbox.receive(
        connId,
        conf(
          'arn:aws:sns:us-east-1:333333333333:other',
          'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription',
        ),
      ),
    ).rejects.toMatchObject({ code: 'sns_topic_not_allowed' });
    for (const bad of [
      'https://evil.test/?Action=ConfirmSubscription',
      'http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription',
      'https://sns.us-east-1.amazonaws.com/?Action=Publish',
    ]) {
      await expect(inbox.receive(connId, conf(TOPIC, bad)), bad).rejects.toMatchObject({
        code: 'sns_subscribe_url_invalid',
      });
    }
    expect(confirmed).toHaveLength(1);
    expect((await h.call('GET', '/v1/audit?action=sns.subscription_confirmed')).json.data).toHaveLength(1);
  });
});

describe('the events and webhooks loops', () => {
  it('run on the one runner, as a server starts it: a stored notification kicks the events loop', async () => {
    const { id, ses } = await sentMessage('gone@customer.test');
    expect(h.container.runner.names()).toEqual(expect.arrayContaining(['events', 'webhooks']));
    for (const roles of [serverRoles(h.container, { smtp: false, worker: true }), workerRoles(h.container)])
      expect(roles.map((r) => r.name).filter((n) => n === 'events' || n === 'webhooks')).toEqual([]);
    h.container.runner.start(['events', 'webhooks']);
    await post(signer.sign({ TopicArn: TOPIC, Message: sesEvent('Bounce', ses, id, 'gone@customer.test') }));
    // The kick waits a few milliseconds, on the clock, to gather notifications arriving together.
    h.clock.advance(5);
    await waitForStatus(h, id, 'bounced');
  });
});

describe('refused SNS deliveries', () => {
  const refusalLogs = () =>
    h.logs
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('SNS delivery refused'))
      .map((l) => JSON.parse(l) as { level: number; connectionId: string; code: string; topic: string | null });

  it('are logged, counted per connection and shown with the reason in the connection view for 24 hours', async () => {
    const good = signer.sign({ TopicArn: TOPIC, Message: 'x' });
    expect((await post({ ...good, Message: 'changed' })).status).toBe(403);
    expect((await post({ ...good, Message: 'changed again' })).status).toBe(403);
    const ahead = new Date(Date.now() + 10 * 60_000).toISOString();
    expect((await post(signer.sign({ TopicArn: TOPIC, Message: 'x', Timestamp: ahead }))).status).toBe(400);
    const foreign = 'arn:aws:sns:us-east-1:333333333333:other';
    expect((await post(signer.sign({ TopicArn: foreign, Message: 'x' }))).status).toBe(403);
    // A replay is SNS delivering again what was stored: not a refusal that explains missing events.
    expect((await post(good)).status).toBe(200);
    expect((await post(good)).status).toBe(409);
    // Nothing is kept for connections that do not exist: anyone can post to any id.
    expect((await post({ ...good, Message: 'y' }, 'conn_nope')).status).toBe(403);
    const kept = await h.container.store.db.selectFrom('sns_refusals').select('connection_id').distinct().execute();
    expect(kept).toEqual([{ connection_id: connId }]);

    const v = (await h.call('GET', `/v1/connections/${connId}`)).json;
    expect(v.refusedDeliveries).toEqual({
      last24h: 4,
      byCode: [
        { code: 'sns_signature_invalid', count: 2, lastAt: h.clock.now().toISOString(), topicArn: TOPIC },
        { code: 'sns_future', count: 1, lastAt: h.clock.now().toISOString(), topicArn: TOPIC },
        { code: 'sns_topic_not_allowed', count: 1, lastAt: h.clock.now().toISOString(), topicArn: foreign },
      ],
      hint: 'The message was altered or not signed by Amazon SNS.',
    });
    expect(v.warnings).toContainEqual(
      `SES events: 4 deliveries refused in the last 24 h: sns_signature_invalid ×2 (last at ${h.clock.now().toISOString()}, topic ${TOPIC}), sns_future ×1 (last at ${h.clock.now().toISOString()}, topic ${TOPIC}), sns_topic_not_allowed ×1 (last at ${h.clock.now().toISOString()}, topic ${foreign}). The message was altered or not signed by Amazon SNS.`,
    );
    expect(refusalLogs()).toEqual([
      expect.objectContaining({ level: 40, connectionId: connId, code: 'sns_signature_invalid', topic: TOPIC }),
      expect.objectContaining({ level: 40, connectionId: connId, code: 'sns_signature_invalid', topic: TOPIC }),
      expect.objectContaining({ level: 40, connectionId: connId, code: 'sns_future', topic: TOPIC }),
      expect.objectContaining({ level: 40, connectionId: connId, code: 'sns_topic_not_allowed', topic: foreign }),
      expect.objectContaining({ level: 40, connectionId: 'conn_nope', code: 'sns_signature_invalid' }),
    ]);
    expect(h.logs.join('')).not.toContain('changed again'); // the body is not logged

    // A day later they are history: not shown, and the table keeps no more than the last day.
    h.clock.advance(24 * 3600_000 + 1);
    expect((await h.call('GET', `/v1/connections/${connId}`)).json.refusedDeliveries).toBeUndefined();
    expect((await post('not json')).status).toBe(400);
    const rows = await h.container.store.db.selectFrom('sns_refusals').selectAll().execute();
    expect(rows).toEqual([expect.objectContaining({ connection_id: connId, code: 'sns_invalid', refused: 1 })]);
    expect((await h.call('GET', `/v1/connections/${connId}`)).json.refusedDeliveries).toMatchObject({ last24h: 1 });
  });

  it('against an emulator, verifies with the certificate the configured SNS endpoint serves, whatever its URL, and never another host', async () => {
    const pem = readFileSync(join(signer.certDir, CERT_PATH), 'utf8');
    const served: string[] = [];
    const emulator = createServer((req, res) => {
      served.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(pem);
    });
    await new Promise<void>((r) => emulator.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(emulator.address() as AddressInfo).port}`;
    try {
      await h.close();
      h = await startHarness({ env: { SESAME_SNS_CERT_DIR: signer.certDir, AWS_ENDPOINT_URL_SNS: endpoint } });
      connId = (await sendingSetup(h)).id;
      await h.call('PATCH', `/v1/connections/${connId}`, { snsTopicArns: [TOPIC] });
      for (const n of [1, 2]) {
        const res = await post(
          signer.sign({
            TopicArn: TOPIC,
            Message: 'x',
            SigningCertURL: `${endpoint}/_aws/sns/SimpleNotificationService-${n}.pem`,
          }),
        );
        expect(res.status, res.text).toBe(200);
      }
      expect(served).toEqual([
        '/_aws/sns/SimpleNotificationService-1.pem',
        '/_aws/sns/SimpleNotificationService-2.pem',
      ]);
      const elsewhere = await post(
        signer.sign({
          TopicArn: TOPIC,
          Message: 'x',
          SigningCertURL: endpoint.replace('127.0.0.1', 'localhost') + '/SimpleNotificationService-3.pem',
        }),
      );
      expect(elsewhere.status).toBe(400);
      expect(elsewhere.json.error.code).toBe('sns_cert_url_invalid');
      expect(served).toHaveLength(2);
      expect(await stored()).toBe(2);
    } finally {
      emulator.close();
    }
  });
});

describe('reputation guard', () => {
  it('warns, then pauses the queue before SES would review the account; a person resumes', async () => {
    await h.close();
    h = await startHarness({
      env: { SESAME_SNS_CERT_DIR: signer.certDir, SESAME_WORKER_POLL_MS: '20', SESAME_REPUTATION_MIN_SENDS: '20' },
    });
    connId = (await sendingSetup(h)).id;
    await h.call('PATCH', `/v1/connections/${connId}`, { snsTopicArns: [TOPIC] });
    const sent: Array<{ id: string; ses: string }> = [];
    for (let i = 0; i < 40; i++) {
      const id = (
        await h.call('POST', '/v1/emails', {
          from: 'app@example.com',
          to: `r${i}@customer.test`,
          subject: 's',
          text: 't',
        })
      ).json.id;
      sent.push({ id, ses: '' });
    }
    for (const s of sent) s.ses = (await waitForStatus(h, s.id, 'sent')).sesMessageId;
    expect((await h.call('GET', `/v1/connections/${connId}`)).json.reputation).toMatchObject({
      sample: 40,
      level: 'ok',
    });

    // One bounce in 40 sends: 2.5 %, above the warning line.
    await post(
      signer.sign({ TopicArn: TOPIC, Message: sesEvent('Bounce', sent[0]!.ses, sent[0]!.id, 'r0@customer.test') }),
    );
    await h.drain();
    expect((await h.call('GET', `/v1/emails/${sent[0]!.id}`)).json.status).toBe('bounced');
    const warned = (await h.call('GET', `/v1/connections/${connId}`)).json;
    expect(warned.reputation.level).toBe('warn');
    expect(warned.warnings.join(' ')).toMatch(/above the warning line/);
    expect(warned.paused).toBeNull();

    // A second: 5 %, past the pause line (4 %).
    await post(
      signer.sign({ TopicArn: TOPIC, Message: sesEvent('Bounce', sent[1]!.ses, sent[1]!.id, 'r1@customer.test') }),
    );
    await h.drain();
    const paused = (await h.call('GET', `/v1/connections/${connId}`)).json.paused;
    expect(paused.reason).toMatch(/^reputation_guard: over the last 40 sends, bounces 5\.00 %/);
    const audited = (await h.call('GET', '/v1/audit?action=connection.paused')).json.data;
    expect(audited).toEqual([
      expect.objectContaining({
        connectionId: connId,
        outcome: 'reputation_guard',
        details: { reason: paused.reason.replace(/^reputation_guard: /, '') },
      }),
    ]);
    // A third bounce finds the queue paused already: no second pause, no second audit row.
    await post(
      signer.sign({ TopicArn: TOPIC, Message: sesEvent('Bounce', sent[2]!.ses, sent[2]!.id, 'r2@customer.test') }),
    );
    await h.drain();
    expect((await h.call('GET', '/v1/audit?action=connection.paused')).json.data).toHaveLength(1);
    const held = (
      await h.call('POST', '/v1/emails', {
        from: 'app@example.com',
        to: 'later@customer.test',
        subject: 's',
        text: 't',
      })
    ).json.id;
    await h.drain();
    expect((await h.call('GET', `/v1/emails/${held}`)).json.status).toBe('queued');
    await h.call('POST', `/v1/connections/${connId}/resume`);
    // Sending sees the resume once its cached view of the connection expires.
    h.clock.advance(2000);
    await waitForStatus(h, held, 'sent');
  });
});
