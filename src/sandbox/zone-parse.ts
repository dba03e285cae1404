import { SandboxError } from './errors.js';

export interface ZoneRecord {
  name: string;
  type: 'A' | 'AAAA' | 'CNAME' | 'MX' | 'TXT';
  value: string;
}

const TYPES = new Set(['A', 'AAAA', 'CNAME', 'MX', 'TXT']);

/**
 * Reads the zone-file lines a person pastes into a DNS console (`name. [ttl] [IN] TYPE value`,
 * TXT as one or more quoted strings, `;` comments), so `sesame domains show --zone` output can
 * be loaded into the sandbox DNS as is.
 */
export function parseZone(text: string): ZoneRecord[] {
  const out: ZoneRecord[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = stripComment(raw).trim();
    if (!line || line.startsWith('$')) return;
    const m = /^(\S+)\s+(?:(\d+)\s+)?(?:IN\s+)?([A-Z]+)\s+(.+)$/i.exec(line);
    if (!m)
      throw new SandboxError('InvalidZone', `Line ${i + 1} is not "name [ttl] [IN] TYPE value": ${raw.slice(0, 120)}`);
    const type = m[3]!.toUpperCase();
    if (!TYPES.has(type))
      throw new SandboxError(
        'InvalidZone',
        `Line ${i + 1}: type ${type} is not served by the sandbox DNS (A, AAAA, CNAME, MX, TXT).`,
      );
    let value = m[4]!.trim();
    if (type === 'TXT') {
      const parts = [...value.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((p) => p[1]!.replace(/\\(.)/g, '$1'));
      value = parts.length ? parts.join('') : value;
    }
    out.push({
      name: m[1]!.replace(/\.$/, '').toLowerCase(),
      type: type as ZoneRecord['type'],
      value: type === 'TXT' ? value : value.replace(/\.$/, ''),
    });
  });
  return out;
}

/** A `;` starts a comment unless it is inside a quoted TXT string. */
function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"' && line[i - 1] !== '\\') quoted = !quoted;
    else if (line[i] === ';' && !quoted) return line.slice(0, i);
  }
  return line;
}
