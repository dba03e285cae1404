import { isDmarcCandidate, isSpfRecord, multipleSpf, parseDmarc, parseSpf, type SpfTerm } from './lint.js';

/**
 * Compares what DNS publishes with what a record should be, and words the verdict for a person:
 * both values, what is wrong, and what to change. Pure, so dns-check.ts only fetches.
 */

export type CheckedRecordType = 'CNAME' | 'MX' | 'TXT';

/** A record Sesame asks the customer to publish. */
export interface ExpectedRecord {
  /** Fully qualified, e.g. `abc._domainkey.example.com` (case and a trailing dot do not matter). */
  name: string;
  type: CheckedRecordType;
  /** CNAME: the target host; MX: the exchange host; TXT: the whole text (however DNS splits it). */
  value: string;
  /** MX only: the preference the exchange must have. */
  priority?: number;
}

export type RecordStatus = 'ok' | 'mismatch' | 'missing' | 'lookup_failed';

export interface RecordCheck {
  name: string;
  type: CheckedRecordType;
  status: RecordStatus;
  /** The expected value in the same form as `found` (MX as "10 host"). */
  expected: string;
  /** What is published at the name for this type: CNAME targets, MX "priority host", TXT texts with their strings joined. */
  found: string[];
  message: string;
  /** What to do; empty when status is ok. */
  hint: string;
  /** The resolver's code when the lookup did not return records (ENOTFOUND, ENODATA, ETIMEOUT, ESERVFAIL, ECONNREFUSED...). */
  error?: string;
}

export interface MxFound {
  exchange: string;
  priority: number;
}

type Verdict = Pick<RecordCheck, 'status' | 'message' | 'hint'>;

export const normalizeHost = (h: string): string => h.trim().toLowerCase().replace(/\.$/, '');

export function expectedText(rec: ExpectedRecord): string {
  if (rec.type === 'MX')
    return rec.priority === undefined ? normalizeHost(rec.value) : `${rec.priority} ${normalizeHost(rec.value)}`;
  if (rec.type === 'CNAME') return normalizeHost(rec.value);
  return rec.value;
}

const PROPAGATION = 'DNS changes can take from minutes to a few hours to be visible, depending on the old TTL.';
const PROVIDER_APPENDS =
  'Some DNS providers append your domain to the name you type: if so, enter only the part before your domain.';

function addHint(rec: ExpectedRecord): string {
  const what =
    rec.type === 'MX'
      ? `${rec.priority ?? 10} ${normalizeHost(rec.value)}`
      : rec.type === 'TXT'
        ? JSON.stringify(rec.value)
        : normalizeHost(rec.value);
  return `Add a ${rec.type} record named ${normalizeHost(rec.name)} with the value ${what}. ${PROVIDER_APPENDS} ${PROPAGATION}`;
}

/** The record is absent: NXDOMAIN (`ENOTFOUND`) or the name has no record of this type (`ENODATA`). */
export function missingVerdict(rec: ExpectedRecord, code: string): Verdict {
  const name = normalizeHost(rec.name);
  const message =
    code === 'ENOTFOUND'
      ? `No ${rec.type} record: ${name} does not exist in DNS.`
      : `No ${rec.type} record at ${name} (the name has other records).`;
  return { status: 'missing', message, hint: addHint(rec) };
}

/** The question could not be answered, so nothing is known about the record. */
export function failedVerdict(rec: ExpectedRecord, code: string): Verdict {
  const name = normalizeHost(rec.name);
  const why: Record<string, string> = {
    ETIMEOUT: 'no DNS server answered in time',
    ESERVFAIL: "the DNS server answered SERVFAIL (it could not get an answer from the domain's nameservers)",
    ECONNREFUSED: 'the DNS server refused the connection',
    EREFUSED: 'the DNS server refused the query',
  };
  return {
    status: 'lookup_failed',
    message: `Could not look up the ${rec.type} record at ${name}: ${why[code] ?? 'the lookup failed'} (${code}).`,
    hint: `This is a DNS failure, not a wrong record: check that the domain's nameservers answer (dig ${rec.type} ${name}), then check again. If Sesame uses its own DNS servers (SESAME_DNS_SERVERS), check those too.`,
  };
}

export function matchCname(rec: ExpectedRecord, targets: readonly string[]): Verdict {
  const name = normalizeHost(rec.name);
  const want = normalizeHost(rec.value);
  const got = targets.map(normalizeHost);
  if (got.includes(want)) return { status: 'ok', message: `${name} points to ${want}.`, hint: '' };
  const appended = got.find((t) => t.startsWith(`${want}.`));
  return {
    status: 'mismatch',
    message: `${name} points to ${got.join(', ')}, but should point to ${want}.`,
    hint: appended
      ? `Your DNS provider appended your domain to the value. Enter it with a trailing dot (${want}.), or as your provider documents for external targets. ${PROPAGATION}`
      : `Change the CNAME record at ${name} to point to ${want}. ${PROPAGATION}`,
  };
}

/**
 * The exchange must be there with the expected priority, and no other exchange may be preferred
 * over it (or tie with it), else part of the mail for the name goes elsewhere.
 */
export function matchMx(rec: ExpectedRecord, found: readonly MxFound[]): Verdict {
  const name = normalizeHost(rec.name);
  const want = normalizeHost(rec.value);
  const shown = found.map((m) => `${m.priority} ${normalizeHost(m.exchange)}`).join(', ');
  const mine = found.filter((m) => normalizeHost(m.exchange) === want);
  if (mine.length === 0) {
    return {
      status: 'mismatch',
      message: `The MX records of ${name} (${shown}) do not include ${expectedText(rec)}.`,
      hint: `Add the MX record ${expectedText(rec)} at ${name}, and remove the others unless you mean to receive mail there. ${PROPAGATION}`,
    };
  }
  if (rec.priority !== undefined && !mine.some((m) => m.priority === rec.priority)) {
    return {
      status: 'mismatch',
      message: `${name} has MX ${want} with priority ${mine.map((m) => m.priority).join(', ')} instead of ${rec.priority}.`,
      hint: `Set the priority of the MX record ${want} at ${name} to ${rec.priority}. ${PROPAGATION}`,
    };
  }
  const best = Math.min(...mine.map((m) => m.priority));
  const rivals = found.filter((m) => normalizeHost(m.exchange) !== want && m.priority <= best);
  if (rivals.length > 0) {
    return {
      status: 'mismatch',
      message: `${name} also has MX ${rivals.map((m) => `${m.priority} ${normalizeHost(m.exchange)}`).join(', ')}, preferred over or equal to ${want}, so part of the mail for ${name} does not reach it.`,
      hint: `Remove the other MX records at ${name}: this name is only for ${want}. ${PROPAGATION}`,
    };
  }
  return { status: 'ok', message: `${name} has MX ${best} ${want}.`, hint: '' };
}

type TxtKind = 'spf' | 'dmarc' | 'dkim' | 'text';

function txtKind(value: string): TxtKind {
  if (isSpfRecord(value)) return 'spf';
  if (isDmarcCandidate(value)) return 'dmarc';
  if (/^\s*v\s*=\s*dkim1/i.test(value) || /(^|;)\s*p\s*=/.test(value)) return 'dkim';
  return 'text';
}

/** The terms of an SPF record that authorise senders, written the same way whatever the spelling. */
function spfTermKeys(terms: readonly SpfTerm[]): string[] {
  return terms
    .filter((t) => !(t.kind === 'mechanism' && t.mechanism === 'all'))
    .map((t) =>
      t.kind === 'mechanism' ? `${t.qualifier}${t.raw.replace(/^[+\-~?]/, '').toLowerCase()}` : t.raw.toLowerCase(),
    );
}

/**
 * TXT records are compared by kind, because a name often holds several: the SPF record against
 * the one `v=spf1` record (a record that keeps other senders but has every expected term passes),
 * DMARC against the `v=DMARC1` record tag by tag, DKIM keys ignoring white space, any other
 * text (verification tokens) exactly.
 */
export function matchTxt(rec: ExpectedRecord, found: readonly string[]): Verdict {
  const name = normalizeHost(rec.name);
  const kind = txtKind(rec.value);
  const others = found.length === 0 ? '' : ` (it has ${found.length} other TXT record${found.length === 1 ? '' : 's'})`;
  if (kind === 'spf') {
    const spf = found.filter(isSpfRecord);
    if (spf.length === 0)
      return { status: 'missing', message: `No SPF record at ${name}${others}.`, hint: addHint(rec) };
    if (spf.length > 1) {
      const p = multipleSpf(name, spf.length);
      return {
        status: 'mismatch',
        message: p.message,
        hint: `${p.hint} It must contain the terms of ${JSON.stringify(rec.value)}.`,
      };
    }
    const published = spf[0]!;
    if (collapse(published).toLowerCase() === collapse(rec.value).toLowerCase())
      return { status: 'ok', message: `${name} has the SPF record ${JSON.stringify(published)}.`, hint: '' };
    const have = new Set(spfTermKeys(parseSpf(published).terms));
    const lacking = spfTermKeys(parseSpf(rec.value).terms).filter(
      (k) => !have.has(k) && !have.has(k.replace(/^\+/, '')),
    );
    if (lacking.length === 0)
      return {
        status: 'ok',
        message: `${name} has an SPF record with every expected term: ${JSON.stringify(published)}.`,
        hint: '',
      };
    return {
      status: 'mismatch',
      message: `The SPF record at ${name} is ${JSON.stringify(published)}; it lacks ${lacking.map((k) => k.replace(/^\+/, '')).join(' ')}.`,
      hint: `Edit that record (do not add a second one) so it reads ${JSON.stringify(rec.value)}, or add the missing terms before its "all". ${PROPAGATION}`,
    };
  }
  if (kind === 'dmarc') {
    const dmarc = found.filter(isDmarcCandidate);
    if (dmarc.length === 0)
      return { status: 'missing', message: `No DMARC record at ${name}${others}.`, hint: addHint(rec) };
    if (dmarc.length > 1) {
      return {
        status: 'mismatch',
        message: `${name} has ${dmarc.length} DMARC records; receivers then apply none of them (RFC 7489 §6.6.3).`,
        hint: `Keep one record, ${JSON.stringify(rec.value)}. ${PROPAGATION}`,
      };
    }
    const published = parseDmarc(dmarc[0]!);
    const wanted = parseDmarc(rec.value);
    const differing = Object.entries(wanted.tags).filter(
      ([tag, v]) =>
        collapse(published.tags[tag] ?? '')
          .toLowerCase()
          .replace(/\s*,\s*/g, ',') !==
        collapse(v)
          .toLowerCase()
          .replace(/\s*,\s*/g, ','),
    );
    if (published.valid && differing.length === 0)
      return { status: 'ok', message: `${name} has the DMARC record ${JSON.stringify(dmarc[0])}.`, hint: '' };
    const problems = published.problems.filter((p) => p.severity === 'error').map((p) => p.message);
    const diffs = differing.map(([tag, v]) => `${tag}=${published.tags[tag] ?? '(absent)'} instead of ${tag}=${v}`);
    return {
      status: 'mismatch',
      message: `The DMARC record at ${name} is ${JSON.stringify(dmarc[0])}: ${[...diffs, ...problems].join('; ')}.`,
      hint: `Replace it with ${JSON.stringify(rec.value)}. ${PROPAGATION}`,
    };
  }
  if (kind === 'dkim') {
    const want = rec.value.replace(/\s+/g, '');
    if (found.some((f) => f.replace(/\s+/g, '') === want))
      return { status: 'ok', message: `${name} has the expected DKIM key.`, hint: '' };
    const keys = found.filter((f) => txtKind(f) === 'dkim');
    if (keys.length === 0)
      return { status: 'missing', message: `No DKIM key at ${name}${others}.`, hint: addHint(rec) };
    return {
      status: 'mismatch',
      message: `The DKIM key at ${name} is not the expected one${keys.some((k) => k.length < want.length) ? ' (it is shorter: was it cut when pasted?)' : ''}.`,
      hint: `Replace the TXT record at ${name} with the expected value, pasted whole. ${PROPAGATION}`,
    };
  }
  if (found.some((f) => f.trim() === rec.value.trim()))
    return { status: 'ok', message: `${name} has the expected TXT record.`, hint: '' };
  return {
    status: 'mismatch',
    message: `None of the TXT records at ${name} is ${JSON.stringify(rec.value)}.`,
    hint: `Add a TXT record at ${name} with the value ${JSON.stringify(rec.value)}; other TXT records there can stay. ${PROPAGATION}`,
  };
}

const collapse = (s: string): string => s.trim().replace(/\s+/g, ' ');
