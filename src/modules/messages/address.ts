import { AppError } from '../../errors.js';

/** One mailbox: `user@example.com` or `Display Name <user@example.com>`. */
export interface Mailbox {
  address: string;
  name?: string;
}

// dot-atom local part (RFC 5322) — quoted local parts are legal but SES and most mailboxes refuse them.
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Validate an address; returns it with the domain lowercased, or an error message. */
export function checkAddress(address: string): { ok: true; address: string } | { ok: false; reason: string } {
  if (/[\r\n\0]/.test(address)) return { ok: false, reason: 'contains a line break or NUL' };
  if (address.length > 254) return { ok: false, reason: 'is longer than 254 characters' };
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return { ok: false, reason: 'is not of the form local@domain' };
  const local = address.slice(0, at);
  const domain = address
    .slice(at + 1)
    .toLowerCase()
    .replace(/\.$/, '');
  if (local.length > 64 || !LOCAL.test(local)) return { ok: false, reason: 'has an invalid local part' };
  const labels = domain.split('.');
  if (
    labels.length < 2 ||
    !labels.every((l) => LABEL.test(l)) ||
    !/^[a-z]{2,63}$|^xn--[a-z0-9-]+$/.test(labels[labels.length - 1]!)
  )
    return { ok: false, reason: 'has an invalid domain' };
  return { ok: true, address: `${local}@${domain}` };
}

/** Parse `Name <addr>` / `"Name" <addr>` / `addr`; throws validation_failed naming the field. */
export function parseMailbox(input: string, field: string): Mailbox {
  if (input.length > 998) throw invalid(field, input, 'is longer than a header line may be (998 characters)');
  const s = input.trim();
  if (/[\r\n\0]/.test(s)) throw invalid(field, input, 'contains a line break or NUL');
  let name: string | undefined;
  let addr = s;
  // `Name <addr>`: split at the last "<" by hand (a regular expression here backtracks badly).
  if (s.endsWith('>')) {
    const open = s.lastIndexOf('<');
    if (open < 0) throw invalid(field, input, 'is not an address or "Name <address>"');
    addr = s.slice(open + 1, -1);
    let display = s.slice(0, open).trim();
    if (display.startsWith('"') && display.endsWith('"') && display.length >= 2)
      display = display.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (/[<>"]/.test(display)) throw invalid(field, input, 'is not an address or "Name <address>"');
    name = display || undefined;
    if (/[<>\s]/.test(addr)) throw invalid(field, input, 'is not an address or "Name <address>"');
  } else if (/[<>\s]/.test(s)) {
    throw invalid(field, input, 'is not an address or "Name <address>"');
  }
  const checked = checkAddress(addr);
  if (!checked.ok) throw invalid(field, input, checked.reason);
  if (name !== undefined && name.length > 256)
    throw invalid(field, input, 'has a display name longer than 256 characters');
  return name ? { address: checked.address, name } : { address: checked.address };
}

/** Format for SES: a display name is quoted (and RFC 2047-encoded when not ASCII). */
export function formatMailbox(m: Mailbox): string {
  if (!m.name) return m.address;
  const ascii = /^[\x20-\x7e]*$/.test(m.name);
  const name = ascii
    ? `"${m.name.replace(/(["\\])/g, '\\$1')}"`
    : `=?UTF-8?B?${Buffer.from(m.name, 'utf8').toString('base64')}?=`;
  return `${name} <${m.address}>`;
}

const invalid = (field: string, value: string, reason: string): AppError =>
  new AppError('validation_failed', `${field}: "${value.slice(0, 100)}" ${reason}.`, {
    details: { issues: [{ path: field, message: reason }] },
  });
