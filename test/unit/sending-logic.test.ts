import { describe, expect, it } from 'vitest';
import { formatMailbox, parseMailbox } from '../../src/modules/messages/address.js';
import { isBase64 } from '../../src/modules/messages/input.js';
import { looksLikeAws, NotAwsResponse } from '../../src/aws/errors.js';
import { classifySendError as classify, isAuthFailure } from '../../src/aws/send-errors.js';
import { AppError, CATALOGUE } from '../../src/errors.js';
import { Pacer, WINDOW_MS } from '../../src/sending/pacer.js';

describe('Pacer', () => {
  it('never lets more than the rate through in any window, and waits exactly long enough', () => {
    const p = new Pacer({ maxSendRate: 3, max24HourSend: 1000, sentLast24Hours: 0 }, 0);
    const taken: number[] = [];
    let t = 0;
    while (taken.length < 12) {
      const r = p.tryTake(1, t);
      if (r.ok) taken.push(t);
      else {
        expect(r.reason).toBe('rate');
        t += r.waitMs;
      }
    }
    for (const x of taken) expect(taken.filter((y) => y >= x && y < x + WINDOW_MS).length).toBeLessThanOrEqual(3);
    expect(taken[11]).toBe(3 * WINDOW_MS);
  });

  it('sends a message with more recipients than the rate alone, and holds the windows its recipients need', () => {
    const p = new Pacer({ maxSendRate: 2, max24HourSend: 1000, sentLast24Hours: 0 }, 0);
    expect(p.tryTake(10, 0).ok).toBe(true);
    expect(p.tryTake(1, 10)).toMatchObject({ ok: false, reason: 'rate' });
    expect(p.tryTake(1, 4 * WINDOW_MS)).toMatchObject({ ok: false, reason: 'rate' });
    expect(p.tryTake(1, 5 * WINDOW_MS).ok).toBe(true);
  });

  it('takes its share when several workers send for one connection', () => {
    const p = new Pacer({ maxSendRate: 6, max24HourSend: 100, sentLast24Hours: 40 }, 0);
    p.share = 3;
    expect(p.tryTake(2, 0).ok).toBe(true);
    expect(p.tryTake(1, 1)).toMatchObject({ ok: false, reason: 'rate' });
    for (let i = 1; i <= 9; i++) expect(p.tryTake(2, i * WINDOW_MS).ok).toBe(true); // 20 = (100 - 40) / 3
    expect(p.tryTake(1, 10 * WINDOW_MS)).toMatchObject({ ok: false, reason: 'daily' });
  });

  it('holds over the daily quota, counting what SES already sent, until the quota is read again', () => {
    const p = new Pacer({ maxSendRate: 100, max24HourSend: 10, sentLast24Hours: 8 }, 0);
    expect(p.tryTake(2, 0).ok).toBe(true);
    expect(p.tryTake(1, 1)).toMatchObject({ ok: false, reason: 'daily' });
    p.refund(2);
    expect(p.tryTake(1, 2).ok).toBe(true);
    p.setQuota({ maxSendRate: 100, max24HourSend: 10, sentLast24Hours: 0 }, 3);
    expect(p.tryTake(5, 4).ok).toBe(true);
  });
});

describe('classify', () => {
  const err = (name: string, message = name, status?: number) =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
  it.each([
    ['TooManyRequestsException', 'retry'],
    ['ThrottlingException', 'retry'],
    ['ServiceUnavailable', 'retry'],
    ['ExpiredTokenException', 'refresh_credentials'],
    ['SendingPausedException', 'pause_connection'],
    ['AccountSuspendedException', 'pause_connection'],
    ['MessageRejected', 'fail'],
    ['MailFromDomainNotVerifiedException', 'fail'],
    ['AccessDeniedException', 'fail'],
    ['BadRequestException', 'fail'],
    ['InvalidClientTokenId', 'fail'],
    ['UnrecognizedClientException', 'fail'],
  ])('%s → %s', (name, kind) => {
    expect(classify(err(name)).kind).toBe(kind);
  });
  it('an answer not from AWS pauses the connection (a setting to fix), and only a gateway error leaves the outcome open', () => {
    const notAws = (status: number) =>
      new NotAwsResponse('sesv2', 'https://proxy.example/v2/email/outbound-emails', status, 'text/html', true);
    const v = classify(notAws(500));
    expect(v).toMatchObject({ kind: 'pause_connection', code: 'aws_endpoint_not_aws' });
    expect(v.message).toContain('https://proxy.example/v2/email/outbound-emails answered HTTP 500');
    expect(v.hint).toContain('AWS_ENDPOINT_URL_SESV2');
    expect('outcomeUnknown' in v).toBe(false);
    expect(classify(notAws(504))).toMatchObject({
      kind: 'pause_connection',
      outcomeUnknown: { code: 'send_outcome_unknown' },
    });
    // STS answered by something else, through the credential broker.
    expect(classify(new AppError('aws_endpoint_not_aws', 'sts:AssumeRole was not answered by AWS')).kind).toBe(
      'pause_connection',
    );
  });

  it('tells credential and permission refusals apart, as they mark the connection failing', () => {
    expect(isAuthFailure(classify(err('AccessDeniedException')))).toBe(true);
    expect(isAuthFailure(classify(err('UnrecognizedClientException')))).toBe(true);
    expect(isAuthFailure(classify(err('SignatureDoesNotMatch')))).toBe(true);
    expect(isAuthFailure(classify(new AppError('aws_trust_policy_denied', 'denied')))).toBe(true);
    expect(isAuthFailure(classify(err('MessageRejected')))).toBe(false);
    expect(isAuthFailure(classify(err('TooManyRequestsException')))).toBe(false);
  });

  it('knows an AWS answer by its request id or its XML/JSON, and an HTML page as not one', () => {
    expect(looksLikeAws({ 'content-type': 'text/xml', 'x-amzn-RequestId': 'r' })).toBe(true);
    expect(looksLikeAws({ 'x-amz-request-id': 'r' })).toBe(true);
    expect(looksLikeAws({ 'content-type': 'application/x-amz-json-1.1' })).toBe(true);
    expect(looksLikeAws({ 'content-type': 'text/html', 'x-amzn-requestid': 'r' })).toBe(false);
    expect(looksLikeAws({ 'content-type': 'text/plain' })).toBe(false);
    expect(looksLikeAws({})).toBe(false);
  });

  it('separates the daily quota from throttling, and lost answers from refusals', () => {
    expect(classify(err('TooManyRequestsException', 'Daily message quota exceeded.')).kind).toBe('defer_quota');
    expect(classify(err('InternalFailure', 'boom', 500)).kind).toBe('retry');
    expect(classify(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).kind).toBe('unknown');
    expect(classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).kind).toBe('retry');
    expect(
      classify(err('InvalidSignatureException', 'Signature expired: 20260101T000000Z is now earlier than …')).kind,
    ).toBe('retry');
    expect(classify(err('InvalidSignatureException', 'The request signature we calculated does not match')).kind).toBe(
      'fail',
    );
  });

  it('gives every verdict a catalogue code, with the catalogue hint unless it knows a more precise one', () => {
    const cases: unknown[] = [
      err('TooManyRequestsException'),
      err('TooManyRequestsException', 'Daily message quota exceeded.'),
      err('ServiceUnavailable', 'down', 503),
      err('SendingPausedException'),
      err('MessageRejected'),
      err('MailFromDomainNotVerifiedException'),
      err('NotFoundException'),
      err('BadRequestException'),
      err('RequestTimeTooSkewed'),
      err('SomethingNew'),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      new NotAwsResponse('sesv2', 'https://proxy.example/', 504, 'text/html', true),
    ];
    for (const e of cases) {
      const v = classify(e);
      expect(Object.keys(CATALOGUE), v.code).toContain(v.code);
      expect(v.hint.length, v.code).toBeGreaterThan(0);
      if ('outcomeUnknown' in v && v.outcomeUnknown) expect(Object.keys(CATALOGUE)).toContain(v.outcomeUnknown.code);
    }
    expect(classify(err('MessageRejected')).hint).toBe(CATALOGUE.ses_message_rejected.hint);
    expect(classify(err('TooManyRequestsException')).hint).toBe(CATALOGUE.ses_throttled.hint);
  });
});

describe('addresses and base64', () => {
  it('parses mailboxes and refuses injections', () => {
    expect(parseMailbox('Ann <Ann@Example.COM>', 'to')).toEqual({ address: 'Ann@example.com', name: 'Ann' });
    expect(parseMailbox('"Doe, John" <j@example.com>', 'to')).toEqual({ address: 'j@example.com', name: 'Doe, John' });
    for (const bad of [
      'a@b',
      'a@@b.com',
      '<a@b.com',
      'a b@c.com',
      'a@b.com\r\nBcc: x@y.com',
      '"x" <a@b.com> junk',
      `${'a'.repeat(65)}@b.com`,
    ]) {
      expect(() => parseMailbox(bad, 'to'), bad).toThrow();
    }
    expect(formatMailbox({ address: 'a@b.com', name: 'Zoë "Z"' })).toBe(
      `=?UTF-8?B?${Buffer.from('Zoë "Z"').toString('base64')}?= <a@b.com>`,
    );
    expect(formatMailbox({ address: 'a@b.com', name: 'A "B"' })).toBe('"A \\"B\\"" <a@b.com>');
  });
  it('checks base64 in one pass', () => {
    for (const ok of ['', 'QQ==', 'QUI=', 'QUJD', 'a+/9']) expect(isBase64(ok), ok).toBe(true);
    for (const bad of ['Q', 'QQ=', 'Q===', '=QUJ', 'QU=D', 'QUJD!', 'QU JD']) expect(isBase64(bad), bad).toBe(false);
  });
});
