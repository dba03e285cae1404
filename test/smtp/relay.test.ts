import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connectedRole, type Harness, sendingSetup, startHarness } from '../helpers/harness.js';
import { b64, dialog, endDialogs } from './dialog.js';
import { queuedId, sentMessage, smtpError, startRelay } from './setup.js';

let h: Harness;
let r: Awaited<ReturnType<typeof startRelay>>;
beforeEach(async () => {
  h = await startHarness({ env: { SESAME_WORKER_POLL_MS: '20' } });
  await sendingSetup(h);
  r = await startRelay(h);
});
afterEach(async () => {
  endDialogs();
  await r.close();
  await h.close();
});

const mail = (extra: Record<string, unknown> = {}) => ({
  from: 'Acme Billing <billing@example.com>',
  to: 'Ann <ann@customer.test>',
  subject: 'Your invoice ✓',
  text: 'Hello over SMTP',
  ...extra,
});
const plainAuth = (user: string, pass: string) => `AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`;

describe('SMTP relay: delivery through the shared pipeline', () => {
  it.each(['PLAIN', 'LOGIN'] as const)(
    'delivers a message sent with AUTH %s, Bcc included but never shown',
    async (method) => {
      const info = await r
        .client({ method })
        .sendMail(
          mail({ cc: 'carol@customer.test', bcc: 'dave@customer.test', headers: { 'X-Sesame-Tags': 'campaign=nov' } }),
        );
      const id = queuedId(info.response);
      expect(info.accepted).toEqual(['ann@customer.test', 'carol@customer.test', 'dave@customer.test']);

      const sent = await sentMessage(h, id);
      expect(sent).toMatchObject({
        source: 'smtp',
        from: '"Acme Billing" <billing@example.com>',
        subject: 'Your invoice ✓',
        to: ['"Ann" <ann@customer.test>'],
        cc: ['carol@customer.test'],
        bcc: ['dave@customer.test'],
        tags: { campaign: 'nov' },
      });
      const got = h.sandbox.admin.mailbox().find((m) => m.messageId === sent.sesMessageId)!;
      expect(got.headers['x-sesame-message-id']).toBe(id);
      expect(got.to).toEqual(['ann@customer.test', 'carol@customer.test', 'dave@customer.test']);
      expect(got.raw).toContain('Hello over SMTP');
      expect(got.raw).not.toMatch(/dave@customer\.test/);
      expect(got.raw).not.toMatch(/^(bcc|x-sesame-tags):/im);
      expect(got.tags).toMatchObject({ campaign: 'nov' });
    },
  );

  it('refuses a wrong password, a wrong username and no AUTH, without echoing the password', async () => {
    const badKey = `ses_AAAAAAAA_${'x'.repeat(40)}`;
    const wrongPass = await smtpError(r.client({ pass: badKey }).sendMail(mail()));
    expect(wrongPass.responseCode).toBe(535);
    expect(wrongPass.response).toMatch(/^535 5\.7\.8 Authentication failed: the password is not a valid API key/);
    const wrongUser = await smtpError(r.client({ user: 'admin', method: 'LOGIN' }).sendMail(mail()));
    expect(wrongUser.response).toMatch(/^535 5\.7\.8 Authentication failed: the username must be "sesame"/);
    const none = await smtpError(r.client({ noAuth: true }).sendMail(mail()));
    expect(none.responseCode).toBe(530);
    expect(none.response).toMatch(/Authentication required/);
    for (const e of [wrongPass, wrongUser, none]) expect(`${e.response} ${e.message}`).not.toContain(badKey);
    expect(h.logs.join('')).not.toContain(badKey);
    expect(h.logs.join('')).not.toContain(h.key);
    expect(h.logs.join('')).toMatch(/smtp auth refused/);
    expect((await h.call('GET', '/v1/emails')).json.data).toEqual([]);
  });

  it('closes the connection after three failed AUTHs', async () => {
    const d = await dialog(r.port);
    await d.cmd('EHLO client.test');
    expect(await d.cmd(plainAuth('sesame', 'guess-1'))).toMatch(/^535 /);
    expect(await d.cmd(plainAuth('sesame', 'guess-2'))).toMatch(/^535 /);
    expect(await d.cmd(plainAuth('sesame', 'guess-3'))).toBe(
      '421 4.7.0 Authentication failed 3 times; closing the connection.',
    );
    await d.closed;
  });

  it('limits failed AUTHs per client address across connections (and the API), before any key lookup', async () => {
    const lookups = vi.spyOn(h.container.apiKeys, 'authenticate');
    let failed = 0;
    // Reconnecting after each 421 no longer buys fresh guesses: 7 connections reach the 20 allowed.
    while (failed < 20) {
      const d = await dialog(r.port);
      await d.cmd('EHLO client.test');
      for (let i = 0; i < 3 && failed < 20; i++) {
        expect(await d.cmd(plainAuth(failed === 19 ? 'admin' : 'sesame', `guess-${failed}`))).toMatch(/^(535|421) /);
        failed++;
      }
      d.end();
    }
    expect(lookups).toHaveBeenCalledTimes(19); // the 20th had a wrong username: it counts, with no lookup
    const d = await dialog(r.port);
    await d.cmd('EHLO client.test');
    expect(await d.cmd(plainAuth('sesame', h.key))).toBe(
      '421 4.7.0 Too many failed authentications from your address; try again in 60 s.',
    );
    await d.closed;
    expect(lookups).toHaveBeenCalledTimes(19);
    expect(h.logs.join('')).toMatch(/too many failed SMTP authentications from one address/);
    // One budget for both doors: the API refuses this address too.
    expect((await h.call('GET', '/v1/workspace')).status).toBe(429);
    // The window ends (the injected clock moves): the right key is taken again.
    h.clock.advance(60_000);
    expect((await r.client().sendMail(mail())).response).toMatch(/^250 /);
  });

  it('refuses an unverified sender with 550 from_not_verified and stores nothing', async () => {
    const e = await smtpError(r.client().sendMail(mail({ from: 'someone@unverified.test' })));
    expect(e.responseCode).toBe(550);
    expect(e.response).toMatch(/^550 5\.7\.1 from_not_verified: someone@unverified\.test is not a verified identity/);
    expect((await h.call('GET', '/v1/emails')).json.data).toEqual([]);
  });

  it('stores a message to a suppressed recipient as suppressed and never sends it', async () => {
    expect((await h.call('POST', '/v1/suppressions', { email: 'ann@customer.test' })).status).toBe(201);
    const info = await r.client().sendMail(mail());
    expect(info.response).toMatch(/not sent: every recipient is on the suppression list/);
    const m = (await h.call('GET', `/v1/emails/${queuedId(info.response)}`)).json;
    expect(m).toMatchObject({ status: 'suppressed', source: 'smtp', suppressed: [{ email: 'ann@customer.test' }] });
  });

  it('picks the connection named in X-Sesame-Connection and strips the header before SES', async () => {
    const backup = await connectedRole(h, 'backup');
    // Without the header the message goes through the workspace default: its first connection.
    const viaDefault = queuedId((await r.client().sendMail(mail())).response);
    expect((await h.call('GET', `/v1/emails/${viaDefault}`)).json.connectionId).not.toBe(backup.id);

    const info = await r.client().sendMail(mail({ headers: { 'X-Sesame-Connection': 'backup' } }));
    const id = queuedId(info.response);
    const sent = await sentMessage(h, id);
    expect(sent.connectionId).toBe(backup.id);
    const got = h.sandbox.admin.mailbox().find((m) => m.messageId === sent.sesMessageId)!;
    expect(got.principalArn).toContain('SesameSES-backup');
    expect(got.raw).not.toMatch(/x-sesame-connection/i);
    expect(got.headers['x-sesame-message-id']).toBe(id);
  });

  it('takes at most 50 recipients: the 51st RCPT gets 452 and the message goes to the first 50', async () => {
    const to = Array.from({ length: 51 }, (_, i) => `r${i}@customer.test`);
    const info = await r.client().sendMail(mail({ to }));
    expect(info.accepted).toHaveLength(50);
    expect(info.rejected).toEqual(['r50@customer.test']);
    expect(String((info as unknown as { rejectedErrors: Error[] }).rejectedErrors[0]?.message)).toMatch(
      /452 4\.5\.3 Too many recipients: SES accepts at most 50/,
    );
    const m = (await h.call('GET', `/v1/emails/${queuedId(info.response)}`)).json;
    expect(m.to).toHaveLength(50);
  });

  it('checks envelope addresses and survives a message without headers or with bare LF line ends', async () => {
    const d = await dialog(r.port);
    await d.cmd('EHLO client.test');
    expect(await d.cmd(plainAuth('sesame', h.key))).toMatch(/^235 /);
    expect(await d.cmd('MAIL FROM:<>')).toMatch(/^553 5\.1\.7 The envelope sender \(MAIL FROM\) must be an address/);
    expect(await d.cmd('MAIL FROM:<bounce@example.com>')).toMatch(/^250 /);
    expect(await d.cmd('RCPT TO:<x@localhost>')).toMatch(/^553 5\.1\.3 RCPT TO <x@localhost> has an invalid domain/);
    expect(await d.cmd('RCPT TO:<x@customer.test>')).toMatch(/^250 /);
    expect(await d.cmd('DATA')).toMatch(/^354 /);
    expect(await d.raw('no headers here\r\njust text\r\n.\r\n')).toMatch(
      /^550 5\.6\.0 validation_failed: The message header is malformed at line 1/,
    );

    expect(await d.cmd('MAIL FROM:<bounce@example.com>')).toMatch(/^250 /);
    expect(await d.cmd('RCPT TO:<x@customer.test>')).toMatch(/^250 /);
    expect(await d.cmd('DATA')).toMatch(/^354 /);
    const id = queuedId(
      await d.raw('From: billing@example.com\nTo: x@customer.test\nSubject: unix\n\nline one\n..dot-stuffed\r\n.\r\n'),
    );
    d.end();
    const sent = await sentMessage(h, id);
    const got = h.sandbox.admin.mailbox().find((m) => m.messageId === sent.sesMessageId)!;
    expect(got.raw).toBe(
      `X-Sesame-Message-Id: ${id}\r\nFrom: billing@example.com\r\nTo: x@customer.test\r\nSubject: unix\r\n\r\nline one\r\n.dot-stuffed\r\n`,
    );
  });
});

describe('SMTP relay: size limit', () => {
  it('advertises SIZE and answers a larger message with 552, storing nothing', async () => {
    const small = await startRelay(h, { smtpMaxBytes: 2048 });
    try {
      const d = await dialog(small.port);
      expect(await d.cmd('EHLO client.test')).toMatch(/^250[- ]SIZE 2048$/m);
      await d.cmd(plainAuth('sesame', h.key));
      // Declared too large: refused before the data is sent.
      expect(await d.cmd('MAIL FROM:<billing@example.com> SIZE=5000')).toMatch(/^552 /);
      // Undeclared: read to the end, then refused.
      await d.cmd('MAIL FROM:<billing@example.com>');
      await d.cmd('RCPT TO:<x@customer.test>');
      await d.cmd('DATA');
      expect(
        await d.raw(`From: billing@example.com\r\nSubject: big\r\n\r\n${'a'.repeat(76)}\r\n`.repeat(40) + '.\r\n'),
      ).toMatch(/^552 5\.3\.4 message_too_large: The message is over the limit of 2048 bytes/);
      // The session goes on.
      expect(await d.cmd('NOOP')).toMatch(/^250 /);
      d.end();
      const e = await smtpError(small.client().sendMail(mail({ text: 'b'.repeat(4000) })));
      expect(e.responseCode).toBe(552);
      expect((await h.call('GET', '/v1/emails')).json.data).toEqual([]);
    } finally {
      await small.close();
    }
  });
});
