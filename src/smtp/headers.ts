import libmime from 'libmime';
import { AppError } from '../errors.js';
import { type Mailbox, parseMailbox } from '../modules/messages/address.js';

/**
 * One header field as received. Text is kept as a latin1 string so every byte of the message
 * round-trips unchanged (8-bit headers and bodies in any charset), folding included.
 */
export interface HeaderField {
  /** Lowercased field name. */
  name: string;
  /** The field's original lines, each ending in CRLF. */
  text: string;
  /** Unfolded value, trimmed, still latin1 bytes. */
  value: string;
}

export interface SplitMessage {
  fields: HeaderField[];
  /** Everything after the blank line (latin1). */
  body: string;
}

// RFC 5322 field name: printable US-ASCII except colon.
const FIELD = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/;

const MAX_HEADER_BYTES = 256 * 1024;

const malformed = (line: number, why: string): AppError =>
  new AppError(
    'validation_failed',
    `The message header is malformed at line ${line}: ${why}. A message starts with header fields ("Name: value"), then an empty line, then the body.`,
  );

/** Split the header block from the body; bare LF line ends become CRLF (what SES and DKIM expect). */
export function splitMessage(raw: Buffer): SplitMessage {
  const text = raw.toString('latin1').replace(/\r?\n/g, '\r\n');
  const end = text.startsWith('\r\n') ? 0 : text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const body = end === -1 ? '' : text.slice(end === 0 ? 2 : end + 4);
  // A header block this large is an attack, not mail (and would be costly to unfold).
  if (head.length > MAX_HEADER_BYTES)
    throw new AppError('validation_failed', `The message header is larger than ${MAX_HEADER_BYTES / 1024} KB.`);
  const lines = head.split('\r\n');
  if (lines[lines.length - 1] === '') lines.pop();
  // Folded lines are gathered in arrays and joined once per field (appending would copy quadratically).
  const parts: Array<{ name: string; text: string[]; value: string[] }> = [];
  lines.forEach((line, i) => {
    if (/^[ \t]/.test(line)) {
      const last = parts[parts.length - 1];
      if (!last) throw malformed(i + 1, 'the first line is indented (a continuation line with nothing to continue)');
      last.text.push(`${line}\r\n`);
      const t = line.trim();
      if (t) last.value.push(t);
      return;
    }
    const m = FIELD.exec(line);
    if (!m) throw malformed(i + 1, `"${printable(line).slice(0, 60)}" is not a header field`);
    const first = line.slice(m[0].length).trim();
    parts.push({ name: m[1]!.toLowerCase(), text: [`${line}\r\n`], value: first ? [first] : [] });
  });
  const fields: HeaderField[] = parts.map((p) => ({ name: p.name, text: p.text.join(''), value: p.value.join(' ') }));
  return { fields, body };
}

export const joinMessage = (fields: HeaderField[], body: string): Buffer =>
  Buffer.from(`${fields.map((f) => f.text).join('')}\r\n${body}`, 'latin1');

/** Header bytes as text: raw UTF-8 (SMTPUTF8) is decoded, then RFC 2047 encoded words (libmime). */
export function decodeHeader(latin1: string): string {
  const utf8 = Buffer.from(latin1, 'latin1').toString('utf8');
  let text: string;
  try {
    text = libmime.decodeWords(utf8);
  } catch {
    text = utf8; // an encoded word libmime cannot read: show it as received rather than refuse the message
  }
  return text.replace(/[\0-\x08\x0b-\x1f\x7f]/g, ' ');
}

/** Split an address list on commas outside quotes, angle brackets and comments. */
export function splitAddressList(value: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = 0;
  let comment = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted && c === '\\') {
      cur += c + (value[++i] ?? '');
      continue;
    }
    if (c === '"' && !comment) quoted = !quoted;
    else if (!quoted && c === '(') comment++;
    else if (!quoted && c === ')' && comment) comment--;
    else if (!quoted && !comment && c === '<') angle++;
    else if (!quoted && !comment && c === '>' && angle) angle--;
    if (c === ',' && !quoted && !angle && !comment) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** One `Name <addr>` / `addr` element (header text, decoded) to a validated Mailbox. */
export function toMailbox(element: string, field: string): Mailbox {
  const m = /^(.*?)<([^<>]*)>$/s.exec(element.trim());
  if (!m) return parseMailbox(element, field);
  let name = m[1]!.trim();
  if (/^".*"$/s.test(name)) name = name.slice(1, -1).replace(/\\(.)/g, '$1');
  name = decodeHeader(name).trim();
  const address = parseMailbox(m[2]!, field).address;
  return name ? parseMailbox(`"${name.replace(/(["\\])/g, '\\$1')}" <${address}>`, field) : { address };
}

const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?');
