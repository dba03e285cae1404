import { z } from 'zod';
import { AppError } from '../../errors.js';
import { type Mailbox, parseMailbox } from './address.js';

/** SES limits (SES v2 API reference, "Quotas"): 50 recipients and 40 MB per message after encoding. */
export const MAX_RECIPIENTS = 50;
export const MAX_MESSAGE_BYTES = 40 * 1024 * 1024;
const MAX_SCHEDULE_AHEAD_MS = 30 * 86_400_000;

/** Headers Sesame owns: the message builder sets them, and a caller may not replace them. */
const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'subject',
  'reply-to',
  'sender',
  'date',
  'message-id',
  'mime-version',
  'return-path',
  'received',
  'dkim-signature',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
  'content-id',
]);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,76}$/;
const TAG = /^[A-Za-z0-9_-]{1,256}$/;
/** Standard base64, checked in one pass (a regular expression would overflow on 40 MB). */
export function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  let pad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 61 /* = */) {
      if (i < s.length - 2) return false;
      pad++;
    } else if (
      pad > 0 ||
      !((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47)
    )
      return false;
  }
  return true;
}

const address = z.string().max(998);
const addressList = z.union([address, z.array(address).max(1000)]).optional();

export const emailInputSchema = z.strictObject({
  from: z.string().min(3).max(600),
  to: addressList,
  cc: addressList,
  bcc: addressList,
  reply_to: addressList,
  subject: z.string().max(998),
  html: z.string().optional(),
  text: z.string().optional(),
  headers: z.record(z.string(), z.string().max(2000)).optional(),
  attachments: z
    .array(
      z.strictObject({
        filename: z.string().min(1).max(255),
        content: z.string(),
        content_type: z
          .string()
          .regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a MIME type such as application/pdf')
          .optional(),
        content_id: z
          .string()
          .regex(/^[\w.@-]{1,100}$/)
          .optional(),
      }),
    )
    .max(100)
    .optional(),
  tags: z.record(z.string(), z.string()).optional(),
  connection: z.string().min(1).max(100).optional(),
  scheduled_at: z
    .string()
    .datetime({ offset: true, message: 'must be an ISO-8601 time such as 2026-12-01T09:00:00Z' })
    .optional(),
});
export type EmailInput = z.infer<typeof emailInputSchema>;

export interface Attachment {
  filename: string;
  contentType: string;
  contentBase64: string;
  contentId?: string;
  size: number;
}

/** A message after validation: what is stored and what the worker sends. */
export interface Draft {
  from: Mailbox;
  to: Mailbox[];
  cc: Mailbox[];
  bcc: Mailbox[];
  replyTo: Mailbox[];
  subject: string;
  html?: string;
  text?: string;
  headers: Array<{ name: string; value: string }>;
  attachments: Attachment[];
  tags: Record<string, string>;
  /** SMTP: the message as received (base64), sent as SES Raw content. */
  rawBase64?: string;
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Validate everything SES would refuse, before anything is stored. */
export function toDraft(input: EmailInput, now: Date): { draft: Draft; scheduledAt: string | null; sizeBytes: number } {
  const from = parseMailbox(input.from, 'from');
  const to = list(input.to).map((a, i) => parseMailbox(a, `to[${i}]`));
  const cc = list(input.cc).map((a, i) => parseMailbox(a, `cc[${i}]`));
  const bcc = list(input.bcc).map((a, i) => parseMailbox(a, `bcc[${i}]`));
  const replyTo = list(input.reply_to).map((a, i) => parseMailbox(a, `reply_to[${i}]`));
  const count = new Set([...to, ...cc, ...bcc].map((m) => m.address.toLowerCase())).size;
  if (count === 0)
    throw new AppError('validation_failed', 'At least one recipient (to, cc or bcc) is required.', {
      details: { issues: [{ path: 'to', message: 'required' }] },
    });
  if (to.length + cc.length + bcc.length > MAX_RECIPIENTS) {
    throw new AppError(
      'too_many_recipients',
      `The message has ${to.length + cc.length + bcc.length} recipients; SES allows ${MAX_RECIPIENTS}.`,
    );
  }

  if (/[\x00-\x1f\x7f]/.test(input.subject))
    throw new AppError('header_not_allowed', 'subject contains a line break or another control character.');
  if (input.html === undefined && input.text === undefined) {
    throw new AppError('validation_failed', 'Give html, text or both.', {
      details: { issues: [{ path: 'html', message: 'html or text is required' }] },
    });
  }
  const headers: Draft['headers'] = [];
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    if (!HEADER_NAME.test(name))
      throw new AppError('header_not_allowed', `Header name "${name.slice(0, 80)}" is not a valid header field name.`);
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower) || lower.startsWith('x-sesame-') || lower.startsWith('x-ses-'))
      throw new AppError('header_not_allowed', `Header "${name}" is set by Sesame and cannot be given.`);
    if (/[\r\n\0]/.test(value)) throw new AppError('header_not_allowed', `Header "${name}" contains a line break.`);
    // SESv2 MessageHeader.Value: 1-870 printable ASCII characters.
    if (!/^[ -~]{1,870}$/.test(value))
      throw new AppError(
        'header_not_allowed',
        `Header "${name}" must be 1-870 printable ASCII characters (encode other text as RFC 2047).`,
      );
    headers.push({ name, value });
  }
  const attachments: Attachment[] = (input.attachments ?? []).map((a, i) => {
    const content = /\s/.test(a.content) ? a.content.replace(/\s+/g, '') : a.content;
    if (!isBase64(content))
      throw new AppError('invalid_attachment', `attachments[${i}] (${a.filename}) is not valid base64.`);
    if (/[\r\n"\\]/.test(a.filename))
      throw new AppError(
        'invalid_attachment',
        `attachments[${i}] has a file name with a line break, quote or backslash.`,
        { hint: 'Rename the file.' },
      );
    const size = Buffer.byteLength(content, 'base64');
    return {
      filename: a.filename,
      contentType: a.content_type ?? 'application/octet-stream',
      contentBase64: content,
      size,
      ...(a.content_id ? { contentId: a.content_id } : {}),
    };
  });
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.tags ?? {})) {
    if (k.toLowerCase().startsWith('sesame_'))
      throw new AppError('validation_failed', `Tag names starting with "sesame_" are Sesame's own (${k}).`);
    if (!TAG.test(k) || !TAG.test(v))
      throw new AppError(
        'validation_failed',
        `Tag ${k.slice(0, 50)}=${v.slice(0, 50)} is invalid: names and values are 1-256 of letters, digits, "_" and "-" (as SES requires).`,
      );
    tags[k] = v;
  }
  if (Object.keys(tags).length > 50) throw new AppError('validation_failed', 'At most 50 tags per message.');
  let scheduledAt: string | null = null;
  if (input.scheduled_at) {
    const t = Date.parse(input.scheduled_at);
    if (t - now.getTime() > MAX_SCHEDULE_AHEAD_MS)
      throw new AppError('validation_failed', 'scheduled_at may be at most 30 days ahead.');
    scheduledAt = t > now.getTime() ? new Date(t).toISOString() : null;
  }
  const draft: Draft = {
    from,
    to,
    cc,
    bcc,
    replyTo,
    subject: input.subject,
    headers,
    attachments,
    tags,
    ...(input.html !== undefined ? { html: input.html } : {}),
    ...(input.text !== undefined ? { text: input.text } : {}),
  };
  const sizeBytes = encodedSize(draft);
  if (sizeBytes > MAX_MESSAGE_BYTES)
    throw new AppError(
      'message_too_large',
      `The encoded message would be about ${(sizeBytes / 1048576).toFixed(1)} MB; SES allows 40 MB.`,
    );
  return { draft, scheduledAt, sizeBytes };
}

/** Size after MIME encoding: base64 grows by 4/3 plus line breaks; text parts may be quoted-printable or base64. */
export function encodedSize(d: Draft): number {
  if (d.rawBase64) return Math.ceil((d.rawBase64.length * 3) / 4);
  const b64 = (n: number) => Math.ceil(n / 3) * 4 * (78 / 76);
  let total = 2048 + d.subject.length * 2;
  for (const h of d.headers) total += h.name.length + h.value.length + 4;
  if (d.text) total += b64(Buffer.byteLength(d.text));
  if (d.html) total += b64(Buffer.byteLength(d.html));
  for (const a of d.attachments) total += b64(a.size) + 300;
  return Math.ceil(total);
}

export const recipientsOf = (d: Draft): string[] => [
  ...new Set([...d.to, ...d.cc, ...d.bcc].map((m) => m.address.toLowerCase())),
];
