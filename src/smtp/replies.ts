import { isAppError } from '../errors.js';

/**
 * An error smtp-server turns into a reply: `responseCode` is the reply code, the message its text.
 * The server's own enhanced status codes are off (they follow the reply code only, so every 550
 * would read "5.1.1 bad mailbox"); our texts carry the fitting RFC 3463 code themselves.
 */
export class SmtpReply extends Error {
  readonly responseCode: number;
  constructor(responseCode: number, text: string) {
    super(text);
    this.name = 'SmtpReply';
    this.responseCode = responseCode;
  }
}

export const reply = (code: number, enhanced: string, text: string): SmtpReply =>
  new SmtpReply(code, `${enhanced} ${text}`);

const PERMANENT: Record<string, [number, string]> = {
  validation_failed: [550, '5.6.0'],
  header_not_allowed: [550, '5.6.0'],
  too_many_recipients: [550, '5.5.3'],
  message_too_large: [552, '5.3.4'],
  payload_too_large: [552, '5.3.4'],
};

/**
 * Map a failure of the shared pipeline to a reply. Anything the sender must fix is permanent (5xx,
 * "<code>: <message>"); anything that may pass later (our fault, AWS, rate limits) is 451 so the
 * client keeps the message and retries, which is what SMTP clients do with 4xx.
 */
export function replyFor(err: unknown): { reply: SmtpReply; code: string; temporary: boolean } {
  if (!isAppError(err))
    return {
      reply: reply(451, '4.3.0', 'internal_error: The message could not be stored; try again later.'),
      code: 'internal_error',
      temporary: true,
    };
  const text = `${err.code}: ${err.message}`;
  if (err.code === 'internal_error' || err.code.startsWith('aws_') || err.status >= 500 || err.status === 429) {
    return {
      reply: reply(451, err.status === 429 || err.code === 'aws_throttled' ? '4.7.1' : '4.3.0', text),
      code: err.code,
      temporary: true,
    };
  }
  const [code, enhanced] = PERMANENT[err.code] ?? [550, '5.7.1'];
  return { reply: reply(code, enhanced, text), code: err.code, temporary: false };
}
