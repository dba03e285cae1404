/** Just enough RFC 5322 parsing for the mailbox: header block, addresses and the subject. */

export function parseHeaders(raw: string): Record<string, string> {
  const end = raw.search(/\r?\n\r?\n/);
  const block = end < 0 ? raw : raw.slice(0, end);
  // Unfold continuation lines (those starting with whitespace) before splitting.
  const lines = block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

export function bodyOf(raw: string): string {
  const m = /\r?\n\r?\n/.exec(raw);
  return m ? raw.slice(m.index + m[0].length) : '';
}

/** Splits an address list on commas outside quotes and angle brackets. */
export function splitAddressList(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = 0;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') angle++;
    else if (!quoted && ch === '>') angle = Math.max(0, angle - 1);
    if (ch === ',' && !quoted && angle === 0) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** `"Name" <a@b.c>` → { address: 'a@b.c', displayName: 'Name' }. */
export function parseAddress(value: string): { address: string; displayName?: string } {
  const m = /^(.*)<([^<>]+)>\s*$/.exec(value.trim());
  if (!m) return { address: value.trim() };
  const name = m[1]!
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .trim();
  return { address: m[2]!.trim(), ...(name ? { displayName: name } : {}) };
}

export const addressOnly = (value: string): string => parseAddress(value).address;

export const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();
