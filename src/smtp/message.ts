import { AppError } from '../errors.js';
import type { Mailbox } from '../modules/messages/address.js';
import { type Draft, MAX_RECIPIENTS } from '../modules/messages/input.js';
import { decodeHeader, type HeaderField, joinMessage, splitAddressList, splitMessage, toMailbox } from './headers.js';

// Same rule as the API (and SES): tag names and values are 1-256 of letters, digits, "_" and "-".
const TAG = /^[A-Za-z0-9_-]{1,256}$/;
const MAX_TAGS = 50;

export interface SmtpMessage {
  draft: Draft;
  sizeBytes: number;
  /** From X-Sesame-Connection: a connection id or name. */
  connectionRef?: string;
}

const invalid = (message: string): AppError => new AppError('validation_failed', message);

/**
 * Turn a message received over SMTP into a Draft for the shared pipeline. The message is sent as
 * received (Raw content), less the headers Sesame owns: X-Sesame-* (ours), X-SES-* (SES would
 * let them pick the configuration set or tags behind our back) and Bcc (a client that left it in
 * would reveal blind recipients to everyone). Recipients are the envelope's: that is how Bcc works.
 */
export function parseSmtpMessage(raw: Buffer, envelopeRecipients: string[]): SmtpMessage {
  const { fields, body } = splitMessage(raw);
  const all = (name: string) => fields.filter((f) => f.name === name);

  const froms = all('from');
  if (froms.length !== 1)
    throw invalid(
      froms.length
        ? `The message has ${froms.length} From headers; exactly one is required.`
        : 'The message has no From header; Sesame sends only messages with a From header naming one verified sender.',
    );
  const fromList = splitAddressList(froms[0]!.value);
  if (fromList.length !== 1)
    throw invalid(`The From header must name exactly one mailbox; it names ${fromList.length}.`);
  const from = toMailbox(fromList[0]!, 'From');

  if (envelopeRecipients.length > MAX_RECIPIENTS)
    throw new AppError(
      'too_many_recipients',
      `The message has ${envelopeRecipients.length} recipients; SES allows ${MAX_RECIPIENTS}.`,
    );
  const { to, cc, bcc } = classify(envelopeRecipients, displayList(all('to')), displayList(all('cc')));

  const conns = [...new Set(all('x-sesame-connection').map((f) => f.value))];
  if (conns.length > 1)
    throw invalid('The message has several different X-Sesame-Connection headers; give one connection id or name.');
  if (conns[0] !== undefined && (conns[0].length < 1 || conns[0].length > 100))
    throw invalid('X-Sesame-Connection must be a connection id or name of 1-100 characters.');

  const kept = fields.filter(
    (f) => !f.name.startsWith('x-sesame-') && !f.name.startsWith('x-ses-') && f.name !== 'bcc',
  );
  const cleaned = joinMessage(kept, body);
  const subject = decodeHeader(all('subject')[0]?.value ?? '').slice(0, 998);
  const draft: Draft = {
    from,
    to,
    cc,
    bcc,
    replyTo: [],
    subject,
    headers: [],
    attachments: [],
    tags: tagsOf(all('x-sesame-tags')),
    rawBase64: cleaned.toString('base64'),
  };
  return { draft, sizeBytes: cleaned.length, ...(conns[0] ? { connectionRef: conns[0] } : {}) };
}

/** Header addresses for display only: one that does not parse is left out rather than refused. */
function displayList(fields: HeaderField[]): Mailbox[] {
  const out: Mailbox[] = [];
  for (const f of fields) {
    for (const el of splitAddressList(f.value)) {
      try {
        out.push(toMailbox(el, 'To'));
      } catch {
        /* display only */
      }
    }
  }
  return out;
}

/**
 * Every envelope recipient is sent to exactly once; which list it is shown in follows the
 * headers (with their display names), and one named in neither To nor Cc was a Bcc.
 */
function classify(envelope: string[], toHeader: Mailbox[], ccHeader: Mailbox[]): Pick<Draft, 'to' | 'cc' | 'bcc'> {
  const find = (list: Mailbox[], a: string) => list.find((m) => m.address.toLowerCase() === a);
  const out: Pick<Draft, 'to' | 'cc' | 'bcc'> = { to: [], cc: [], bcc: [] };
  for (const address of envelope) {
    const key = address.toLowerCase();
    const t = find(toHeader, key);
    const c = t ? undefined : find(ccHeader, key);
    if (t) out.to.push({ ...t, address });
    else if (c) out.cc.push({ ...c, address });
    else out.bcc.push({ address });
  }
  return out;
}

function tagsOf(fields: HeaderField[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const f of fields) {
    for (const pair of f.value
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const eq = pair.indexOf('=');
      const k = eq === -1 ? pair : pair.slice(0, eq).trim();
      const v = eq === -1 ? '' : pair.slice(eq + 1).trim();
      if (k.toLowerCase().startsWith('sesame_'))
        throw invalid(`X-Sesame-Tags: tag names starting with "sesame_" are Sesame's own (${k.slice(0, 60)}).`);
      if (!TAG.test(k) || !TAG.test(v))
        throw invalid(
          `X-Sesame-Tags: "${pair.slice(0, 80)}" is invalid; write name=value pairs separated by commas, names and values 1-256 of letters, digits, "_" and "-".`,
        );
      tags[k] = v;
    }
  }
  if (Object.keys(tags).length > MAX_TAGS) throw invalid(`X-Sesame-Tags: at most ${MAX_TAGS} tags per message.`);
  return tags;
}
