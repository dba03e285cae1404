import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookDelivery } from '../../src/modules/webhooks/delivery.js';
import { verify } from '../../src/modules/webhooks/signature.js';
import { createWebhooks } from '../../src/modules/webhooks/webhooks.js';
import { type Harness, sendingSetup, startHarness, waitForStatus } from '../helpers/harness.js';
import { sesEvent, snsSigner } from '../helpers/sns.js';

const TOPIC = 'arn:aws:sns:us-east-1:222222222222:sesame-events';
/** A public address, so registering it needs no DNS. Nothing is ever sent to it in these tests. */
const PUBLIC_URL = 'https://93.184.215.14/hooks/sesame?token=abc';
let signer: ReturnType<typeof snsSigner>;
let h: Harness;
let connId: string;
const receivers: Array<{ close(): Promise<void> }> = [];

beforeAll(() => {
  signer = snsSigner();
});
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
  await h.close();
});

async function start(allowPrivate: boolean): Promise<void> {
  h = await startHarness({
    env: {
      SESAME_SNS_CERT_DIR: signer.certDir,
      SESAME_WORKER_POLL_MS: '20',
      ...(allowPrivate ? { SESAME_WEBHOOKS_ALLOW_PRIVATE: 'true' } : {}),
    },
  });
  connId = (await sendingSetup(h)).id;
  await h.call('PATCH', `/v1/connections/${connId}`, { snsTopicArns: [TOPIC] });
}

/** A real HTTP endpoint on loopback; `status(n)` answers the n-th request (1-based). */
async function receiver(
  status: (n: number) => number = () => 200,
  extra: (n: number) => Record<string, string> = () => ({}),
) {
  const got: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      const n = got.length;
      res.writeHead(status(n), extra(n));
      res.end(`answer ${n} ${'x'.repeat(5000)}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const r = {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    got,
    close: () => new Promise<void>((res) => server.close(() => res())),
  };
  receivers.push(r);
  return r;
}

const postSns = (message: string) =>
  h.call('POST', `/v1/sns/${connId}`, undefined, {
    key: null,
    rawBody: JSON.stringify(signer.sign({ TopicArn: TOPIC, Message: message })),
    headers: { 'content-type': 'text/plain; charset=UTF-8' },
  });

/** Apply stored SNS notifications, then send the webhook deliveries that are due. */
const pump = () => h.drain();

async function sentMessage(to: string): Promise<{ id: string; ses: string }> {
  const id = (await h.call('POST', '/v1/emails', { from: 'app@example.com', to, subject: 's', text: 't' })).json.id;
  const m = await waitForStatus(h, id, 'sent');
  return { id, ses: m.sesMessageId };
}

const hmac = (secret: string, ts: string, body: string) =>
  `v1=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;

describe('webhook registration', () => {
  it('shows the secret once: absent from GET, from the stored row, the audit rows and the logs', async () => {
    await start(false);
    const created = await h.call('POST', '/v1/webhooks', {
      url: PUBLIC_URL,
      eventTypes: ['bounce', 'complaint', 'bounce'],
      description: 'billing',
    });
    expect(created.status).toBe(201);
    const secret: string = created.json.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(created.json).toMatchObject({
      id: expect.stringMatching(/^wh_/),
      url: PUBLIC_URL,
      description: 'billing',
      eventTypes: ['bounce', 'complaint'],
      allowPrivate: false,
    });

    const list = await h.call('GET', '/v1/webhooks');
    expect(list.json.data).toEqual([
      {
        id: created.json.id,
        url: PUBLIC_URL,
        description: 'billing',
        eventTypes: ['bounce', 'complaint'],
        allowPrivate: false,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    ]);
    const one = await h.call('GET', `/v1/webhooks/${created.json.id}`);
    expect(one.status).toBe(200);
    expect(one.json).not.toHaveProperty('secret');
    expect(one.json.deliveries).toEqual([]);
    for (const text of [list.text, one.text]) expect(text).not.toContain(secret.slice(6));

    const rows = await h.container.store.db.selectFrom('webhooks').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(secret.slice(6));
    expect(JSON.parse(rows[0]!.secret_ciphertext)).toMatchObject({ v: 1, ct: expect.any(String) });

    expect((await h.call('DELETE', `/v1/webhooks/${created.json.id}`)).status).toBe(204);
    expect((await h.call('GET', `/v1/webhooks/${created.json.id}`)).json.error.code).toBe('not_found');
    expect((await h.call('GET', '/v1/webhooks')).json.data).toEqual([]);
    expect((await h.call('DELETE', `/v1/webhooks/${created.json.id}`)).status).toBe(404);

    const audit = await h.call('GET', '/v1/audit?action=webhook.*');
    expect(audit.json.data.map((e: { action: string }) => e.action)).toEqual(['webhook.deleted', 'webhook.created']);
    // The query string may carry the receiver's own token: audit rows keep origin and path only.
    expect(audit.json.data[1].details).toEqual({
      webhookId: created.json.id,
      url: 'https://93.184.215.14/hooks/sesame',
      eventTypes: ['bounce', 'complaint'],
      allowPrivate: false,
    });
    const auditRows = await h.container.store.db.selectFrom('audit_log').select('details').execute();
    expect(JSON.stringify(auditRows)).not.toContain(secret.slice(6));
    expect(h.logs.join('')).not.toContain(secret.slice(6));
  });

  it('refuses bad input with validation_failed and stores nothing', async () => {
    await start(false);
    const bad: Array<[string, unknown]> = [
      ['no url', { eventTypes: ['bounce'] }],
      ['no event types', { url: PUBLIC_URL }],
      ['empty event types', { url: PUBLIC_URL, eventTypes: [] }],
      ['unknown event type', { url: PUBLIC_URL, eventTypes: ['bounced'] }],
      ['unknown field', { url: PUBLIC_URL, eventTypes: ['bounce'], secret: 'mine' }],
      ['not a URL', { url: 'not a url', eventTypes: ['bounce'] }],
      ['credentials in the URL', { url: 'https://user:pw@93.184.215.14/', eventTypes: ['bounce'] }],
      ['allowPrivate not a boolean', { url: PUBLIC_URL, eventTypes: ['*'], allowPrivate: 'yes' }],
    ];
    for (const [label, body] of bad) {
      const res = await h.call('POST', '/v1/webhooks', body);
      expect(res.status, label).toBe(400);
      expect(res.json.error.code, label).toBe('validation_failed');
    }
    expect(await h.container.store.db.selectFrom('webhooks').select('id').execute()).toEqual([]);
    // Every kind the processor records is offered, and "*".
    for (const kind of [
      'send',
      'delivery',
      'bounce',
      'complaint',
      'reject',
      'delivery_delay',
      'rendering_failure',
      'open',
      'click',
      'subscription',
      '*',
    ]) {
      expect((await h.call('POST', '/v1/webhooks', { url: PUBLIC_URL, eventTypes: [kind] })).status, kind).toBe(201);
    }
  });

  it('refuses private, loopback, metadata and http URLs with webhook_url_not_allowed unless the server allows them', async () => {
    await start(false);
    const refused = [
      'https://127.0.0.1/hook',
      'https://10.1.2.3/hook',
      'https://172.16.0.1/hook',
      'https://192.168.1.1/hook',
      'https://100.64.0.1/hook',
      'https://169.254.169.254/latest/meta-data/',
      'https://[fd00:ec2::254]/latest/meta-data/',
      'https://[::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://[fc00::1]/hook',
      'https://[fe80::1]/hook',
      'https://0.0.0.0/hook',
      'https://2130706433/hook', // 127.0.0.1 written as one number
      'https://localhost/hook', // a name that resolves to loopback
      'http://93.184.215.14/hook',
    ];
    for (const url of refused) {
      const res = await h.call('POST', '/v1/webhooks', { url, eventTypes: ['*'] });
      expect(res.status, url).toBe(422);
      expect(res.json.error, url).toMatchObject({
        code: 'webhook_url_not_allowed',
        hint: expect.stringContaining('https'),
      });
    }
    expect(
      (await h.call('POST', '/v1/webhooks', { url: 'http://93.184.215.14/hook', eventTypes: ['*'] })).json.error.details
        .reason,
    ).toBe('scheme');
    expect(
      (await h.call('POST', '/v1/webhooks', { url: 'https://localhost/hook', eventTypes: ['*'] })).json.error.message,
    ).toMatch(/localhost: it resolves to an address in the loopback range/);
    // The per-webhook flag alone opens nothing: the server setting decides.
    const flagOnly = await h.call('POST', '/v1/webhooks', {
      url: 'https://127.0.0.1/hook',
      eventTypes: ['*'],
      allowPrivate: true,
    });
    expect(flagOnly.json.error).toMatchObject({
      code: 'webhook_url_not_allowed',
      details: { reason: 'private_not_permitted' },
    });
    expect(await h.container.store.db.selectFrom('webhooks').select('id').execute()).toEqual([]);
  });

  it('with SESAME_WEBHOOKS_ALLOW_PRIVATE, a webhook that opts in may use a private address or http, never a metadata address', async () => {
    await start(true);
    expect(
      (await h.call('POST', '/v1/webhooks', { url: 'https://10.1.2.3/hook', eventTypes: ['*'] })).json.error.code,
    ).toBe('webhook_url_not_allowed');
    expect(
      (await h.call('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/hook', eventTypes: ['*'], allowPrivate: true }))
        .status,
    ).toBe(201);
    expect(
      (await h.call('POST', '/v1/webhooks', { url: 'http://localhost:9/hook', eventTypes: ['*'], allowPrivate: true }))
        .status,
    ).toBe(201);
    for (const url of [
      'https://169.254.169.254/',
      'https://[fd00:ec2::254]/',
      'https://[::ffff:169.254.169.254]/',
      'https://224.0.0.1/',
    ]) {
      const res = await h.call('POST', '/v1/webhooks', { url, eventTypes: ['*'], allowPrivate: true });
      expect(res.json.error, url).toMatchObject({
        code: 'webhook_url_not_allowed',
        details: { reason: 'address_never_allowed' },
      });
    }
  });

  it('another workspace can neither see nor delete a webhook', async () => {
    await start(false);
    const id = (await h.call('POST', '/v1/webhooks', { url: PUBLIC_URL, eventTypes: ['*'] })).json.id;
    const other = await h.container.workspaces.create('globex', 'test');
    const key = (await h.container.apiKeys.create(other.id, 'k', 'test', { scopes: ['admin'] })).key;
    expect((await h.call('GET', '/v1/webhooks', undefined, { key })).json.data).toEqual([]);
    for (const [method, url] of [
      ['GET', `/v1/webhooks/${id}`],
      ['GET', `/v1/webhooks/${id}/deliveries`],
      ['DELETE', `/v1/webhooks/${id}`],
    ] as const) {
      const res = await h.call(method, url, undefined, { key });
      expect(res.status, `${method} ${url}`).toBe(404);
      expect(res.json.error.code).toBe('not_found');
    }
    expect((await h.call('GET', `/v1/webhooks/${id}`)).status).toBe(200);
  });
});

describe('webhook delivery', () => {
  it('a bounce posted by SNS reaches the receiver, signed with the secret shown at creation', async () => {
    await start(true);
    const r = await receiver();
    const hook = (await h.call('POST', '/v1/webhooks', { url: r.url, eventTypes: ['bounce'], allowPrivate: true }))
      .json;
    const deliveriesOnly = await receiver();
    await h.call('POST', '/v1/webhooks', { url: deliveriesOnly.url, eventTypes: ['delivery'], allowPrivate: true });

    const { id, ses } = await sentMessage('gone@customer.test');
    expect((await postSns(sesEvent('Bounce', ses, id, 'gone@customer.test'))).status).toBe(200);
    await pump();

    expect(r.got).toHaveLength(1);
    expect(deliveriesOnly.got).toHaveLength(0);
    const { headers, body } = r.got[0]!;
    const ts = String(headers['sesame-webhook-timestamp']);
    expect(Number(ts)).toBe(Math.floor(h.clock.now().getTime() / 1000));
    expect(headers['sesame-webhook-signature']).toBe(hmac(hook.secret, ts, body));
    expect(
      verify(hook.secret, {
        body,
        timestamp: ts,
        signature: String(headers['sesame-webhook-signature']),
        nowSeconds: Number(ts),
      }),
    ).toBe(true);
    expect(
      verify(hook.secret, {
        body: body.replace('gone', 'gome'),
        timestamp: ts,
        signature: String(headers['sesame-webhook-signature']),
        nowSeconds: Number(ts),
      }),
    ).toBe(false);
    expect(headers['content-type']).toBe('application/json');
    expect(JSON.parse(body)).toEqual({
      id: expect.stringMatching(/^evt_/),
      type: 'bounce',
      createdAt: expect.any(String),
      data: {
        messageId: id,
        sesMessageId: ses,
        connectionId: connId,
        recipients: ['gone@customer.test'],
        occurredAt: expect.any(String),
        details: {
          type: 'Permanent',
          subType: 'General',
          recipients: [{ email: 'gone@customer.test', status: '5.1.1', diagnostic: null }],
        },
      },
    });

    const shown = (await h.call('GET', `/v1/webhooks/${hook.id}`)).json;
    expect(shown.deliveries).toEqual([
      expect.objectContaining({
        id: headers['sesame-webhook-id'],
        eventId: JSON.parse(body).id,
        type: 'bounce',
        status: 'delivered',
        attemptCount: 1,
        lastStatusCode: 200,
        lastError: null,
        nextAttemptAt: null,
      }),
    ]);
    expect(shown.deliveries[0].attempts).toEqual([
      {
        attempt: 1,
        at: expect.any(String),
        durationMs: expect.any(Number),
        statusCode: 200,
        error: null,
        responseExcerpt: expect.stringMatching(/^answer 1 x+$/),
      },
    ]);
    // The answer is read up to a small cap only.
    expect(shown.deliveries[0].attempts[0].responseExcerpt.length).toBeLessThanOrEqual(256);
    expect(h.logs.join('')).not.toContain(hook.secret.slice(6));
  });

  it('retries a 500 with backoff on the clock, and shows both attempts', async () => {
    await start(true);
    const r = await receiver((n) => (n === 1 ? 500 : 200));
    const hook = (await h.call('POST', '/v1/webhooks', { url: r.url, eventTypes: ['*'], allowPrivate: true })).json;
    await postSns(sesEvent('Delivery', 'ses-unknown-1', null, 'x@customer.test'));
    await pump();
    expect(r.got).toHaveLength(1);
    let d = (await h.call('GET', `/v1/webhooks/${hook.id}/deliveries`)).json.data[0];
    expect(d).toMatchObject({ status: 'pending', attemptCount: 1, lastStatusCode: 500, lastError: 'HTTP 500' });
    const wait = Date.parse(d.nextAttemptAt) - h.clock.now().getTime();
    expect(wait).toBeGreaterThanOrEqual(15_000); // 30 s, half of it jitter
    expect(wait).toBeLessThanOrEqual(30_000);

    await h.drain();
    expect(r.got).toHaveLength(1); // not due yet
    h.clock.advance(30_000);
    await h.drain();
    expect(r.got).toHaveLength(2);
    // The same delivery id and body, a fresh timestamp and signature.
    expect(r.got[1]!.headers['sesame-webhook-id']).toBe(r.got[0]!.headers['sesame-webhook-id']);
    expect(r.got[1]!.body).toBe(r.got[0]!.body);
    expect(Number(r.got[1]!.headers['sesame-webhook-timestamp'])).toBe(
      Number(r.got[0]!.headers['sesame-webhook-timestamp']) + 30,
    );
    expect(r.got[1]!.headers['sesame-webhook-signature']).toBe(
      hmac(hook.secret, String(r.got[1]!.headers['sesame-webhook-timestamp']), r.got[1]!.body),
    );

    d = (await h.call('GET', `/v1/webhooks/${hook.id}/deliveries`)).json.data[0];
    expect(d).toMatchObject({
      status: 'delivered',
      attemptCount: 2,
      lastStatusCode: 200,
      lastError: null,
      nextAttemptAt: null,
      finishedAt: expect.any(String),
    });
    expect(d.attempts.map((a: { statusCode: number; error: string | null }) => [a.statusCode, a.error])).toEqual([
      [500, 'HTTP 500'],
      [200, null],
    ]);
  });

  it('does not follow a redirect: the 3xx is a failed attempt', async () => {
    await start(true);
    const target = await receiver();
    const r = await receiver(
      () => 307,
      () => ({ location: target.url }),
    );
    const hook = (await h.call('POST', '/v1/webhooks', { url: r.url, eventTypes: ['*'], allowPrivate: true })).json;
    await postSns(sesEvent('Delivery', 'ses-unknown-2', null, 'x@customer.test'));
    await pump();
    expect(r.got).toHaveLength(1);
    expect(target.got).toHaveLength(0);
    const d = (await h.call('GET', `/v1/webhooks/${hook.id}/deliveries`)).json.data[0];
    expect(d).toMatchObject({
      status: 'pending',
      lastStatusCode: 307,
      lastError: 'HTTP 307: redirects are not followed',
    });
  });

  it('gives up 24 hours after the event and marks the delivery failed', async () => {
    await start(true);
    const r = await receiver(() => 503);
    const hook = (await h.call('POST', '/v1/webhooks', { url: r.url, eventTypes: ['delivery'], allowPrivate: true }))
      .json;
    await postSns(sesEvent('Delivery', 'ses-unknown-3', null, 'x@customer.test'));
    const t0 = h.clock.now().getTime();
    await pump();
    for (let i = 0; i < 100; i++) {
      const d = (await h.call('GET', `/v1/webhooks/${hook.id}/deliveries`)).json.data[0];
      if (d.status !== 'pending') break;
      h.clock.advance(30 * 60_000);
      await h.drain();
    }
    const d = (await h.call('GET', `/v1/webhooks/${hook.id}/deliveries?status=failed`)).json.data[0];
    expect(d).toMatchObject({
      status: 'failed',
      lastStatusCode: 503,
      nextAttemptAt: null,
      finishedAt: expect.any(String),
    });
    expect(Date.parse(d.expiresAt) - t0).toBe(24 * 3600_000);
    expect(d.attemptCount).toBe(r.got.length);
    expect(d.attemptCount).toBeGreaterThan(10);
    expect(d.attempts).toHaveLength(d.attemptCount);
    // Backoff: gaps grow, every attempt falls inside the window.
    const at = d.attempts.map((a: { at: string }) => Date.parse(a.at));
    expect(at[at.length - 1]).toBeLessThan(Date.parse(d.expiresAt));
    expect(at[at.length - 1] - at[at.length - 2]).toBeGreaterThan(at[1] - at[0]);
    // Nothing more is sent once it failed.
    h.clock.advance(48 * 3600_000);
    await h.drain();
    expect(r.got).toHaveLength(d.attemptCount);
  });

  it('checks the address again at delivery and connects only to the address it checked', async () => {
    await start(true);
    const r = await receiver();
    const { db } = h.container.store;
    const { repos } = h.container;
    const envelope = (await import('../../src/crypto/envelope.js')).createEnvelope(h.container.config.masterKey);
    const dns: Record<string, string> = { 'hooks.customer.test': '93.184.215.14' };
    const resolve = async (host: string) => (dns[host] ? [{ address: dns[host]!, family: 4 as const }] : []);
    const webhooks = createWebhooks({
      repo: repos.webhooks,
      transaction: repos.transaction,
      clock: h.clock,
      config: { webhooksAllowPrivate: false },
      envelope,
      audit: h.container.audit,
      resolve,
    });
    const { webhook } = await webhooks.create(
      h.workspaceId,
      { url: `https://hooks.customer.test:${r.port}/hook`, eventTypes: ['*'] },
      'test',
    );
    // Enqueued directly, and sent by deliverers that resolve with the names above (the container's
    // own uses real DNS, and runs only when a test drains it).
    const now = h.clock.now().toISOString();
    await repos.transaction((tx) =>
      webhooks.enqueue(tx, {
        id: 'evt_rebind',
        workspaceId: h.workspaceId,
        connectionId: connId,
        messageId: null,
        sesMessageId: 'ses-4',
        kind: 'delivery',
        occurredAt: now,
        recipients: ['x@customer.test'],
        details: {},
        createdAt: now,
      }),
    );
    const deliverer = (allowPrivate: boolean) =>
      createWebhookDelivery({
        webhooks: repos.webhooks,
        jobs: repos.jobs,
        transaction: repos.transaction,
        clock: h.clock,
        logger: h.container.logger,
        config: { webhooksAllowPrivate: allowPrivate },
        envelope,
        resolve,
      });

    // The name now points at loopback (DNS rebinding): the attempt is refused before connecting.
    dns['hooks.customer.test'] = '127.0.0.1';
    await deliverer(false).pass();
    expect(r.got).toHaveLength(0);
    let d = (await webhooks.deliveries(h.workspaceId, webhook.id)).data[0]!;
    expect(d).toMatchObject({
      status: 'pending',
      lastStatusCode: null,
      lastError: expect.stringMatching(/^webhook_url_not_allowed: .*loopback/),
    });

    // A webhook allowed to reach private addresses: the connection goes to the checked address,
    // with the name kept for the Host header, though no real DNS knows the name.
    await db
      .updateTable('webhooks')
      .set({ allow_private: 1, url: `http://hooks.customer.test:${r.port}/hook` })
      .where('id', '=', webhook.id)
      .execute();
    h.clock.advance(60_000);
    await deliverer(true).pass();
    expect(r.got).toHaveLength(1);
    expect(r.got[0]!.headers.host).toBe(`hooks.customer.test:${r.port}`);
    d = (await webhooks.deliveries(h.workspaceId, webhook.id)).data[0]!;
    expect(d).toMatchObject({ status: 'delivered', attemptCount: 2 });
  });

  it('a deleted webhook takes its pending deliveries with it', async () => {
    await start(true);
    const r = await receiver(() => 500);
    const hook = (await h.call('POST', '/v1/webhooks', { url: r.url, eventTypes: ['*'], allowPrivate: true })).json;
    await postSns(sesEvent('Delivery', 'ses-unknown-5', null, 'x@customer.test'));
    await pump();
    expect(r.got).toHaveLength(1);
    expect((await h.call('DELETE', `/v1/webhooks/${hook.id}`)).status).toBe(204);
    h.clock.advance(3600_000);
    await h.drain();
    expect(r.got).toHaveLength(1);
    expect(await h.container.store.db.selectFrom('webhook_deliveries').select('id').execute()).toEqual([]);
    expect(await h.container.store.db.selectFrom('webhook_attempts').select('id').execute()).toEqual([]);
    expect(await h.container.repos.jobs.depth('webhook')).toBe(0);
  });

  it("each pending delivery is a job of the one queue: its retry time is the job's, and a delivered one leaves none", async () => {
    await start(true);
    const r = await receiver((n) => (n === 1 ? 500 : 200));
    const hook = (await h.call('POST', '/v1/webhooks', { url: r.url, eventTypes: ['*'], allowPrivate: true })).json;
    await postSns(sesEvent('Delivery', 'ses-unknown-6', null, 'x@customer.test'));
    await pump();
    const d = (await h.call('GET', `/v1/webhooks/${hook.id}/deliveries`)).json.data[0];
    expect(d).toMatchObject({ status: 'pending', attemptCount: 1 });
    expect(await h.container.repos.jobs.depth('webhook')).toBe(1);
    expect(await h.container.repos.jobs.nextDue('webhook')).toBe(d.nextAttemptAt);
    h.clock.advance(30_000);
    await h.drain();
    expect((await h.call('GET', `/v1/webhooks/${hook.id}/deliveries`)).json.data[0]).toMatchObject({
      status: 'delivered',
      attemptCount: 2,
    });
    expect(await h.container.repos.jobs.depth('webhook')).toBe(0);
  });

  it('an attempt cut short by a process that died is made again once its lease runs out', async () => {
    await start(true);
    const r = await receiver();
    const hook = (await h.call('POST', '/v1/webhooks', { url: r.url, eventTypes: ['*'], allowPrivate: true })).json;
    await postSns(sesEvent('Delivery', 'ses-unknown-7', null, 'x@customer.test'));
    // Events applied, the delivery queued; another process takes it and dies while sending.
    await h.container.events.pass();
    const { jobs } = h.container.repos;
    const [job] = await jobs.lease('webhook', { owner: 'dead', limit: 10, now: h.clock.now(), leaseMs: 5 * 60_000 });
    expect(await jobs.claim('webhook', job!.id, 'dead', h.clock.now(), 5 * 60_000)).toBe(true);
    await h.drain();
    expect(r.got).toHaveLength(0);
    h.clock.advance(5 * 60_000 + 1);
    await h.drain();
    expect(r.got).toHaveLength(1);
    expect(r.got[0]!.headers['sesame-webhook-id']).toBe(job!.id);
    expect((await h.call('GET', `/v1/webhooks/${hook.id}/deliveries`)).json.data[0]).toMatchObject({
      status: 'delivered',
      attemptCount: 1,
    });
    expect(await jobs.depth('webhook')).toBe(0);
  });
});
