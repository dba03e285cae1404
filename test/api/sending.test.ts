import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, sendingSetup, startHarness } from '../helpers/harness.js';
import { skippable, withoutPostgres } from '../helpers/skip.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ env: { SESAME_WORKER_POLL_MS: '20' } });
});
afterEach(async () => {
  await h.close();
});

const message = async (id: string) => (await h.call('GET', `/v1/emails/${id}`)).json;
/** Send what is due now, then read the message. */
const drained = async (id: string) => {
  await h.drain();
  return message(id);
};

const pdf = Buffer.from('%PDF-1.4 tiny test file').toString('base64');

describe('POST /v1/emails', () => {
  it('accepts a message, stores it durably and delivers it through SES with every field', async () => {
    await sendingSetup(h);
    const res = await h.call('POST', '/v1/emails', {
      from: 'Acme Billing <billing@example.com>',
      to: ['Ann <ann@customer.test>', 'bob@customer.test'],
      cc: 'carol@customer.test',
      bcc: ['dave@customer.test'],
      reply_to: 'support@example.com',
      subject: 'Your invoice ✓',
      html: '<p>Hello</p>',
      text: 'Hello',
      headers: { 'List-Unsubscribe': '<mailto:unsub@example.com>', 'X-Campaign': 'nov' },
      attachments: [{ filename: 'invoice.pdf', content: pdf, content_type: 'application/pdf' }],
      tags: { campaign: 'november', kind: 'invoice' },
    });
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ id: expect.stringMatching(/^msg_/), status: 'queued' });
    const queued = (await h.call('GET', `/v1/emails/${res.json.id}`)).json;
    expect(queued).toMatchObject({
      status: 'queued',
      attempts: 0,
      to: ['"Ann" <ann@customer.test>', 'bob@customer.test'],
      tags: { campaign: 'november', kind: 'invoice' },
    });

    const sent = await drained(res.json.id);
    expect(sent.status).toBe('sent');
    expect(sent.sesMessageId).toBeTruthy();
    expect(sent.attempts).toBe(1);
    expect(sent.sentAt).toBeTruthy();
    const mail = h.sandbox.admin.mailbox().find((m) => m.messageId === sent.sesMessageId)!;
    expect(mail).toBeTruthy();
    expect(mail.subject).toBe('Your invoice ✓');
    expect(mail.to).toEqual(expect.arrayContaining(['"Ann" <ann@customer.test>', 'bob@customer.test']));
    expect(mail.bcc).toEqual(['dave@customer.test']);
    expect(mail.replyTo).toEqual(['support@example.com']);
    expect(mail.headers['x-sesame-message-id']).toBe(res.json.id);
    expect(mail.headers['list-unsubscribe']).toBe('<mailto:unsub@example.com>');
    expect(mail.text).toBe('Hello');
    expect(mail.html).toBe('<p>Hello</p>');
    expect(mail.attachments).toEqual([
      { fileName: 'invoice.pdf', contentType: 'application/pdf', size: Buffer.from(pdf, 'base64').length },
    ]);
    expect(mail.tags).toMatchObject({ campaign: 'november' });
  });

  it('is idempotent: same key and body give the same id, a different body is a conflict', async () => {
    await sendingSetup(h);
    const body = { from: 'a@example.com', to: 'x@customer.test', subject: 'hi', text: 'hi' };
    const first = await h.call('POST', '/v1/emails', body, { headers: { 'idempotency-key': 'order-42' } });
    const again = await h.call(
      'POST',
      '/v1/emails',
      { text: 'hi', subject: 'hi', to: 'x@customer.test', from: 'a@example.com' },
      { headers: { 'idempotency-key': 'order-42' } },
    );
    expect(again.status).toBe(202);
    expect(again.json.id).toBe(first.json.id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const conflict = await h.call(
      'POST',
      '/v1/emails',
      { ...body, subject: 'other' },
      { headers: { 'idempotency-key': 'order-42' } },
    );
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe('idempotency_conflict');
    expect((await h.call('GET', '/v1/emails')).json.data).toHaveLength(1);
    // Keys expire after 24 hours.
    h.clock.advance(24 * 3600_000 + 1000);
    const later = await h.call('POST', '/v1/emails', body, { headers: { 'idempotency-key': 'order-42' } });
    expect(later.json.id).not.toBe(first.json.id);
  });

  it('sends a batch, answering each message on its own line', async () => {
    await sendingSetup(h);
    const res = await h.call('POST', '/v1/emails/batch', {
      emails: [
        { from: 'a@example.com', to: 'x@customer.test', subject: '1', text: '1' },
        { from: 'a@example.com', to: 'not-an-address', subject: '2', text: '2' },
        { from: 'a@unverified.test', to: 'x@customer.test', subject: '3', text: '3' },
        { from: 'a@example.com', to: 'y@customer.test', subject: '4', html: '<b>4</b>' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.json.data.map((r: any) => r.status ?? r.error.code)).toEqual([
      'queued',
      'validation_failed',
      'from_not_verified',
      'queued',
    ]);
    expect((await h.call('POST', '/v1/emails/batch', { emails: Array.from({ length: 101 }, () => ({})) })).status).toBe(
      400,
    );
  });

  it('schedules and cancels', async () => {
    await sendingSetup(h);
    const at = new Date(h.clock.now().getTime() + 10 * 60_000).toISOString();
    const res = await h.call('POST', '/v1/emails', {
      from: 'a@example.com',
      to: 'x@customer.test',
      subject: 'later',
      text: 'later',
      scheduled_at: at,
    });
    const later = await h.call('POST', '/v1/emails', {
      from: 'a@example.com',
      to: 'y@customer.test',
      subject: 'later 2',
      text: 'later',
      scheduled_at: at,
    });
    const m = await drained(res.json.id);
    expect(m).toMatchObject({ status: 'queued', scheduledAt: at });
    const cancelled = await h.call('POST', `/v1/emails/${res.json.id}/cancel`);
    expect(cancelled.json.status).toBe('cancelled');
    expect((await h.call('POST', `/v1/emails/${res.json.id}/cancel`)).json.error.code).toBe('not_cancellable');
    h.clock.advance(10 * 60_000 + 1000);
    expect((await drained(later.json.id)).status).toBe('sent');
    expect(h.sandbox.admin.mailbox().map((x) => x.subject)).toEqual(['later 2']);
  });

  it('refuses an unverified sender and a domain outside the connection before anything is queued', async () => {
    await sendingSetup(h);
    const res = await h.call('POST', '/v1/emails', {
      from: 'ceo@unverified.test',
      to: 'x@customer.test',
      subject: 's',
      text: 't',
    });
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe('from_not_verified');
    expect(res.json.error.hint).toMatch(/Verify the address or its domain/);
    const conn = (await h.call('GET', '/v1/connections')).json.data[0];
    await h.call('PATCH', `/v1/connections/${conn.id}`, { sendDomains: ['other.test'] });
    const outside = await h.call('POST', '/v1/emails', {
      from: 'a@example.com',
      to: 'x@customer.test',
      subject: 's',
      text: 't',
    });
    expect(outside.json.error.code).toBe('from_not_allowed');
    expect((await h.call('GET', '/v1/emails')).json.data).toHaveLength(0);
  });

  it('never sends to suppressed recipients', async () => {
    await sendingSetup(h);
    expect((await h.call('POST', '/v1/suppressions', { email: 'Gone@Customer.test', reason: 'bounce' })).status).toBe(
      201,
    );
    const all = await h.call('POST', '/v1/emails', {
      from: 'a@example.com',
      to: 'gone@customer.test',
      subject: 's',
      text: 't',
    });
    expect(all.json.status).toBe('suppressed');
    const m = (await h.call('GET', `/v1/emails/${all.json.id}`)).json;
    expect(m.suppressed).toEqual([{ email: 'gone@customer.test', reason: 'bounce' }]);
    expect(m.lastError.code).toBe('recipients_suppressed');
    const some = await h.call('POST', '/v1/emails', {
      from: 'a@example.com',
      to: ['gone@customer.test', 'ok@customer.test'],
      subject: 'partial',
      text: 't',
    });
    expect(some.json.status).toBe('queued');
    expect((await drained(some.json.id)).status).toBe('sent');
    const mail = h.sandbox.admin.mailbox();
    expect(mail).toHaveLength(1);
    expect(mail[0]!.to).toEqual(['ok@customer.test']);
  });

  it('refuses an API key without the send scope, and will not let it mint one that has it', async () => {
    await sendingSetup(h);
    const key = (await h.call('POST', '/v1/api-keys', { name: 'reader', scopes: ['read', 'manage'] })).json.key;
    const res = await h.call(
      'POST',
      '/v1/emails',
      { from: 'a@example.com', to: 'x@customer.test', subject: 's', text: 't' },
      { key },
    );
    expect(res.status).toBe(403);
    expect(res.json.error).toMatchObject({ code: 'forbidden', details: { permission: 'emails.send', scope: 'send' } });
    // Making keys needs the admin scope, which this key lacks.
    const escalate = await h.call('POST', '/v1/api-keys', { name: 'sneaky', scopes: ['send'] }, { key });
    expect(escalate.status).toBe(403);
    expect(escalate.json.error.details).toMatchObject({ permission: 'api_keys.manage', scope: 'admin' });
    const failed = (
      await h.call('POST', '/v1/emails', { from: 'a@example.com', to: 'x@customer.test', subject: 's', text: 't' })
    ).json.id;
    await h.container.store.db.updateTable('messages').set({ status: 'failed' }).where('id', '=', failed).execute();
    expect((await h.call('POST', `/v1/emails/${failed}/retry`, undefined, { key })).status).toBe(403);
  });

  it('answers concurrent batches with one Idempotency-Key once', async () => {
    await sendingSetup(h);
    const body = {
      emails: [
        { from: 'a@example.com', to: 'x@customer.test', subject: '1', text: '1' },
        { from: 'a@example.com', to: 'y@customer.test', subject: '2', text: '2' },
      ],
    };
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        h.call('POST', '/v1/emails/batch', body, { headers: { 'idempotency-key': 'batch-1' } }),
      ),
    );
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThan(0);
    for (const r of results.filter((x) => x.status !== 200)) expect(r.json.error.code).toBe('idempotency_in_progress');
    expect((await h.call('GET', '/v1/emails')).json.data).toHaveLength(2);
    const again = await h.call('POST', '/v1/emails/batch', body, { headers: { 'idempotency-key': 'batch-1' } });
    expect(again.json.data.map((d: any) => d.id)).toEqual(ok[0]!.json.data.map((d: any) => d.id));
  });

  it('a message cancelled while the worker holds it stays cancelled', async () => {
    await sendingSetup(h);
    h.sandbox.admin.inject('ses', 'SendEmail', 'TooManyRequestsException', 1);
    const id = (
      await h.call('POST', '/v1/emails', { from: 'a@example.com', to: 'x@customer.test', subject: 's', text: 't' })
    ).json.id;
    expect((await drained(id)).lastError.code).toBe('ses_throttled');
    expect((await h.call('POST', `/v1/emails/${id}/cancel`)).json.status).toBe('cancelled');
    h.clock.advance(120_000);
    expect((await drained(id)).status).toBe('cancelled');
    expect(h.sandbox.admin.mailbox()).toHaveLength(0);
  });
});

describe.skipIf(withoutPostgres)(skippable('on PostgreSQL', withoutPostgres), () => {
  it('accepts, queues on the jobs table and delivers', async () => {
    await h.close();
    h = await startHarness({ backend: 'postgres', env: { SESAME_WORKER_POLL_MS: '20' } });
    await sendingSetup(h);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (
          await h.call('POST', '/v1/emails', {
            from: 'a@example.com',
            to: `p${i}@customer.test`,
            subject: `pg ${i}`,
            text: 't',
          })
        ).json.id,
      );
    const cancelled = (
      await h.call('POST', '/v1/emails', {
        from: 'a@example.com',
        to: 'later@customer.test',
        subject: 'later',
        text: 't',
        scheduled_at: new Date(h.clock.ms() + 600_000).toISOString(),
      })
    ).json.id;
    expect((await h.call('POST', `/v1/emails/${cancelled}/cancel`)).json.status).toBe('cancelled');
    await h.drain();
    for (const id of ids) expect((await message(id)).status).toBe('sent');
    expect(await h.container.repos.jobs.depth('send')).toBe(0);
    expect(
      h.sandbox.admin
        .mailbox()
        .map((m) => m.subject)
        .sort(),
    ).toEqual(['pg 0', 'pg 1', 'pg 2', 'pg 3', 'pg 4']);
  });
});
