import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { parseSmtpMessage } from '../../src/smtp/message.js';
import { replyFor } from '../../src/smtp/replies.js';

const msg = (s: string) => Buffer.from(s, 'utf8');
const rawOf = (d: { rawBase64?: string }) => Buffer.from(d.rawBase64 ?? '', 'base64').toString('utf8');
const fails = (f: () => unknown): AppError => {
  try {
    f();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('did not throw');
};

describe('parseSmtpMessage', () => {
  it('takes From and Subject from the headers, recipients from the envelope, shown in To/Cc/Bcc as the headers say', () => {
    const { draft, sizeBytes, connectionRef } = parseSmtpMessage(
      msg(
        'From: "Acme, Billing" <billing@Example.COM>\r\nTo: Ann <ann@customer.test>, bob@customer.test\r\nCc: =?UTF-8?B?Q2Fyb2wg4pyT?= <carol@customer.test>\r\nSubject: =?UTF-8?Q?Your_invoice_=E2=9C=93?=\r\n =?UTF-8?Q?_(November)?=\r\n\r\nHello\r\n',
      ),
      ['ann@customer.test', 'bob@customer.test', 'carol@customer.test', 'dave@customer.test'],
    );
    expect(draft.from).toEqual({ address: 'billing@example.com', name: 'Acme, Billing' });
    expect(draft.subject).toBe('Your invoice ✓ (November)');
    expect(draft.to).toEqual([{ address: 'ann@customer.test', name: 'Ann' }, { address: 'bob@customer.test' }]);
    expect(draft.cc).toEqual([{ address: 'carol@customer.test', name: 'Carol ✓' }]);
    expect(draft.bcc).toEqual([{ address: 'dave@customer.test' }]);
    expect(draft).toMatchObject({ headers: [], attachments: [], tags: {}, replyTo: [] });
    expect(rawOf(draft)).toContain(
      'Subject: =?UTF-8?Q?Your_invoice_=E2=9C=93?=\r\n =?UTF-8?Q?_(November)?=\r\n\r\nHello\r\n',
    );
    expect(sizeBytes).toBe(Buffer.from(draft.rawBase64!, 'base64').length);
    expect(connectionRef).toBeUndefined();
  });

  it('removes X-Sesame-*, X-SES-* and Bcc headers (folded lines too), reading connection and tags first', () => {
    const { draft, connectionRef } = parseSmtpMessage(
      msg(
        'X-Sesame-Connection: backup\r\nFrom: a@example.com\r\nBcc: secret@customer.test\r\nX-Sesame-Tags: campaign=nov,\r\n kind=invoice\r\nX-SES-CONFIGURATION-SET: other\r\nX-Sesame-Message-Id: msg_forged\r\nTo: x@customer.test\r\n\r\nbody',
      ),
      ['x@customer.test', 'secret@customer.test'],
    );
    expect(connectionRef).toBe('backup');
    expect(draft.tags).toEqual({ campaign: 'nov', kind: 'invoice' });
    expect(rawOf(draft)).toBe('From: a@example.com\r\nTo: x@customer.test\r\n\r\nbody');
    expect(draft.bcc).toEqual([{ address: 'secret@customer.test' }]);
  });

  it('turns bare LF line ends into CRLF and keeps non-UTF-8 bytes as they are', () => {
    const latin1Body = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]); // "café\n" in ISO-8859-1
    const raw = Buffer.concat([Buffer.from('From: a@example.com\nSubject: hi\n\n'), latin1Body]);
    const { draft } = parseSmtpMessage(raw, ['x@customer.test']);
    expect(Buffer.from(draft.rawBase64!, 'base64')).toEqual(
      Buffer.concat([
        Buffer.from('From: a@example.com\r\nSubject: hi\r\n\r\n'),
        Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a]),
      ]),
    );
  });

  it('accepts a message that is only headers', () => {
    const { draft } = parseSmtpMessage(msg('From: a@example.com\r\nSubject: hi\r\n'), ['x@customer.test']);
    expect(rawOf(draft)).toBe('From: a@example.com\r\nSubject: hi\r\n\r\n');
  });

  it.each([
    ['no headers at all', 'just a line of text\r\n', /line 1: "just a line of text" is not a header field/],
    ['an empty header block', '\r\nbody only\r\n', /no From header/],
    ['an empty message', '', /no From header/],
    ['a continuation line first', ' folded\r\nFrom: a@example.com\r\n\r\n', /line 1: the first line is indented/],
    ['two From headers', 'From: a@example.com\r\nFrom: b@example.com\r\n\r\n', /2 From headers/],
    ['two mailboxes in From', 'From: a@example.com, b@example.com\r\n\r\n', /exactly one mailbox; it names 2/],
    ['an invalid From', 'From: not an address\r\n\r\n', /From: "not an address"/],
    ['bad tags', 'From: a@example.com\r\nX-Sesame-Tags: nice tag=1\r\n\r\n', /X-Sesame-Tags: "nice tag=1" is invalid/],
    [
      'two connections',
      'From: a@example.com\r\nX-Sesame-Connection: a\r\nX-Sesame-Connection: b\r\n\r\n',
      /several different X-Sesame-Connection/,
    ],
  ])('refuses %s with validation_failed', (_what, text, message) => {
    const e = fails(() => parseSmtpMessage(msg(text), ['x@customer.test']));
    expect(e.code).toBe('validation_failed');
    expect(e.message).toMatch(message);
  });

  it('refuses more than 50 envelope recipients', () => {
    const rcpts = Array.from({ length: 51 }, (_, i) => `r${i}@customer.test`);
    expect(fails(() => parseSmtpMessage(msg('From: a@example.com\r\n\r\n'), rcpts)).code).toBe('too_many_recipients');
  });
});

describe('replyFor', () => {
  it("maps errors the sender must fix to 5xx and ours or AWS's to 451", () => {
    expect(replyFor(new AppError('from_not_verified', 'x is not verified.')).reply).toMatchObject({
      responseCode: 550,
      message: '5.7.1 from_not_verified: x is not verified.',
    });
    expect(replyFor(new AppError('validation_failed', 'bad')).reply).toMatchObject({
      responseCode: 550,
      message: '5.6.0 validation_failed: bad',
    });
    expect(replyFor(new AppError('message_too_large', 'big')).reply.responseCode).toBe(552);
    expect(replyFor(new AppError('aws_access_denied', 'denied')).reply).toMatchObject({
      responseCode: 451,
      message: '4.3.0 aws_access_denied: denied',
    });
    expect(replyFor(new AppError('internal_error', 'oops')).reply.responseCode).toBe(451);
    expect(replyFor(new AppError('forbidden', 'no', { status: 503 })).reply.responseCode).toBe(451);
    expect(replyFor(new Error('db down'))).toMatchObject({
      code: 'internal_error',
      temporary: true,
      reply: { responseCode: 451 },
    });
  });
});
