import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, sendingSetup, startHarness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await sendingSetup(h);
});
afterAll(async () => {
  await h.close();
});

const base = { from: 'app@example.com', to: 'x@customer.test', subject: 's', text: 't' };
const stored = async () =>
  Number(
    (
      await h.container.store.db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
const jobs = async () => h.container.repos.jobs.depth('send');

describe('POST /v1/emails: bad input is a clear 4xx and nothing is stored or queued', () => {
  const cases: Array<[string, unknown, number, string]> = [
    ['no body fields', {}, 400, 'validation_failed'],
    ['not an object', ['x'], 400, 'validation_failed'],
    ['unknown field', { ...base, priority: 'high' }, 400, 'validation_failed'],
    ['malformed from', { ...base, from: 'not an address' }, 400, 'validation_failed'],
    ['from without a domain dot', { ...base, from: 'app@localhost' }, 400, 'validation_failed'],
    ['display name with angle brackets twice', { ...base, from: 'A <b> <app@example.com>' }, 400, 'validation_failed'],
    ['malformed recipient', { ...base, to: ['ok@customer.test', 'bad@@customer.test'] }, 400, 'validation_failed'],
    ['CRLF in a recipient', { ...base, to: 'x@customer.test\r\nBcc: victim@evil.test' }, 400, 'validation_failed'],
    ['no recipient', { ...base, to: [] }, 400, 'validation_failed'],
    [
      '51 recipients',
      {
        ...base,
        to: Array.from({ length: 30 }, (_, i) => `t${i}@customer.test`),
        cc: Array.from({ length: 21 }, (_, i) => `c${i}@customer.test`),
      },
      400,
      'too_many_recipients',
    ],
    ['no body', { from: base.from, to: base.to, subject: 's' }, 400, 'validation_failed'],
    ['CRLF in the subject', { ...base, subject: 'Hi\r\nBcc: victim@evil.test' }, 400, 'header_not_allowed'],
    [
      'CRLF in a header value',
      { ...base, headers: { 'X-Campaign': 'a\r\nBcc: victim@evil.test' } },
      400,
      'header_not_allowed',
    ],
    ['header name with a colon', { ...base, headers: { 'X-A: b': 'c' } }, 400, 'header_not_allowed'],
    ['overriding From', { ...base, headers: { From: 'ceo@example.com' } }, 400, 'header_not_allowed'],
    [
      'overriding our message id header',
      { ...base, headers: { 'X-Sesame-Message-Id': 'msg_x' } },
      400,
      'header_not_allowed',
    ],
    ['overriding Content-Type', { ...base, headers: { 'content-type': 'text/html' } }, 400, 'header_not_allowed'],
    ['non-ASCII header value', { ...base, headers: { 'X-Campaign': 'Zoë' } }, 400, 'header_not_allowed'],
    ['empty header value', { ...base, headers: { 'X-Campaign': '' } }, 400, 'header_not_allowed'],
    [
      'header value over 870 characters',
      { ...base, headers: { 'X-Campaign': 'a'.repeat(871) } },
      400,
      'header_not_allowed',
    ],
    ['NUL in the subject', { ...base, subject: 'a\u0000b' }, 400, 'header_not_allowed'],
    ["a tag in Sesame's namespace", { ...base, tags: { sesame_message_id: 'x' } }, 400, 'validation_failed'],
    [
      'invalid base64',
      { ...base, attachments: [{ filename: 'a.pdf', content: 'not base64!!' }] },
      400,
      'invalid_attachment',
    ],
    [
      'quote in a file name',
      { ...base, attachments: [{ filename: 'a".pdf', content: 'QUJD' }] },
      400,
      'invalid_attachment',
    ],
    [
      'bad content type',
      { ...base, attachments: [{ filename: 'a.pdf', content: 'QUJD', content_type: 'pdf' }] },
      400,
      'validation_failed',
    ],
    ['bad tag', { ...base, tags: { 'has space': 'x' } }, 400, 'validation_failed'],
    ['bad scheduled_at', { ...base, scheduled_at: 'tomorrow' }, 400, 'validation_failed'],
    [
      'schedule too far ahead',
      { ...base, scheduled_at: new Date(Date.now() + 40 * 86_400_000).toISOString() },
      400,
      'validation_failed',
    ],
    ['unknown connection', { ...base, connection: 'nope' }, 404, 'not_found'],
  ];
  for (const [label, body, status, code] of cases) {
    it(label, async () => {
      const [before, beforeJobs] = [await stored(), await jobs()];
      const res = await h.call('POST', '/v1/emails', body);
      expect(res.status, res.text).toBe(status);
      expect(res.json.error.code).toBe(code);
      expect(res.json.error.hint).toBeTruthy();
      expect(await stored()).toBe(before);
      expect(await jobs()).toBe(beforeJobs);
    });
  }

  it('refuses a message over 40 MB after encoding, and malformed JSON', async () => {
    const big = Buffer.alloc(31 * 1024 * 1024, 1).toString('base64'); // 31 MB → ~42 MB encoded
    const res = await h.call('POST', '/v1/emails', { ...base, attachments: [{ filename: 'big.bin', content: big }] });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('message_too_large');
    const json = await h.call('POST', '/v1/emails', undefined, {
      rawBody: '{"from":',
      headers: { 'content-type': 'application/json' },
    });
    expect(json.status).toBe(400);
    expect(json.json.error.code).toBe('invalid_json');
    const key = await h.call('POST', '/v1/emails', base, { headers: { 'idempotency-key': 'x'.repeat(300) } });
    expect(key.json.error.code).toBe('idempotency_key_invalid');
    expect(await stored()).toBe(0);
  });

  // No timing is asserted: input that made parsing blow up would take minutes, and meet the test's timeout.
  it('answers hostile shapes with a 4xx: huge address strings, deep nesting', async () => {
    const spaces = await h.call('POST', '/v1/emails', {
      ...base,
      to: [`a${' '.repeat(40_000)}b`],
      reply_to: `"x" ${'<'.repeat(5000)}a@example.com>`,
    });
    expect(spaces.status).toBe(400);
    const nameSpaces = await h.call('POST', '/v1/emails', { ...base, to: [`${' '.repeat(900)}<x@customer.test>`] });
    expect(nameSpaces.status).toBe(202);
    let deep = '1';
    for (let i = 0; i < 50_000; i++) deep = `[${deep}]`;
    const nested = await h.call('POST', '/v1/emails', undefined, {
      rawBody: `{"from":"a@example.com","to":"x@customer.test","subject":"s","text":"t","tags":${deep}}`,
      headers: { 'content-type': 'application/json', 'idempotency-key': 'deep' },
    });
    expect(nested.status).toBe(400);
  });

  it('validates list queries', async () => {
    for (const q of ['status=bogus', 'limit=0', 'since=yesterday', 'tag=no-equals', 'other=1']) {
      const res = await h.call('GET', `/v1/emails?${q}`);
      expect(res.status, q).toBe(400);
    }
    expect((await h.call('GET', '/v1/emails/msg_nope')).status).toBe(404);
    expect((await h.call('POST', '/v1/emails/msg_nope/cancel')).status).toBe(404);
  });
});
