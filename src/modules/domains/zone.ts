/**
 * Renders records as a zone-file snippet (RFC 1035 §5.1 master file format), the form BIND,
 * Route 53's import and most DNS providers' "import zone file" accept, so people can paste the
 * whole set at once instead of copying record by record.
 */

export type ZoneRecordType = 'A' | 'AAAA' | 'CNAME' | 'MX' | 'TXT' | 'NS';

/** The same shape as an ExpectedRecord of dns-check.ts, which is therefore accepted as is. */
export interface ZoneRecord {
  name: string;
  type: ZoneRecordType;
  /** A host for CNAME, MX and NS; an address for A and AAAA; the whole text for TXT. */
  value: string;
  /** MX preference (default 10). */
  priority?: number;
  ttl?: number;
}

/** RFC 1035 §3.3.14: a TXT record is a list of strings of at most 255 bytes each. */
const TXT_STRING_MAX = 255;

/** One line per record: `name. TTL IN TYPE value`, names aligned, ending with a newline. */
export function renderZone(records: readonly ZoneRecord[], opts: { ttl?: number } = {}): string {
  const ttl = opts.ttl ?? 300;
  const names = records.map((r) => fqdn(r.name));
  const width = Math.max(0, ...names.map((n) => n.length));
  return records.map((r, i) => `${names[i]!.padEnd(width)} ${r.ttl ?? ttl} IN ${r.type} ${rdata(r)}\n`).join('');
}

function rdata(r: ZoneRecord): string {
  switch (r.type) {
    case 'CNAME':
    case 'NS':
      return fqdn(r.value);
    case 'MX':
      return `${r.priority ?? 10} ${fqdn(r.value)}`;
    case 'TXT':
      return quoteTxt(r.value);
    case 'A':
    case 'AAAA':
      return r.value.trim();
  }
}

/** Absolute names end with a dot; without it a zone file appends its origin ($ORIGIN) and the record lands at the wrong name. */
function fqdn(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') ? n : `${n}.`;
}

/**
 * A TXT value as quoted strings of at most 255 bytes each (`"…" "…"`), split never inside a
 * UTF-8 character; `"` and `\` are escaped, other bytes outside printable ASCII written `\DDD`.
 */
export function quoteTxt(value: string): string {
  return splitTxtStrings(value)
    .map((s) => `"${escape(s)}"`)
    .join(' ');
}

/** The 255-byte strings DNS carries a long TXT value in (a DKIM key is longer than one). */
export function splitTxtStrings(value: string): string[] {
  const out: string[] = [];
  let current = '';
  let size = 0;
  for (const ch of value) {
    const len = Buffer.byteLength(ch);
    if (size + len > TXT_STRING_MAX) {
      out.push(current);
      current = '';
      size = 0;
    }
    current += ch;
    size += len;
  }
  out.push(current);
  return out;
}

function escape(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte < 0x20 || byte > 0x7e) out += `\\${String(byte).padStart(3, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return out;
}
