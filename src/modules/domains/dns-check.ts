import { Resolver } from 'node:dns/promises';
import type { Clock } from '../../clock.js';
import { AppError } from '../../errors.js';
import {
  countSpfLookups,
  isDmarcCandidate,
  isSpfRecord,
  parseDmarc,
  parseSpf,
  spfTargets,
  type DmarcRecord,
  type LintCode,
  type LintProblem,
  type SpfLookupReport,
  type SpfSource,
} from './lint.js';
import {
  expectedText,
  failedVerdict,
  matchCname,
  matchMx,
  matchTxt,
  missingVerdict,
  normalizeHost,
  type ExpectedRecord,
  type MxFound,
  type RecordCheck,
} from './match.js';

export type { ExpectedRecord, RecordCheck, RecordStatus, CheckedRecordType } from './match.js';

/**
 * Looks up what a domain publishes and judges it: the records Sesame asks for (DKIM CNAMEs,
 * MAIL FROM MX and SPF, DMARC...) one by one, and the domain as a whole (SPF lookup limit and
 * duplicates, DMARC syntax, a CNAME at the apex). Built on node:dns Resolver so SESAME_DNS_SERVERS
 * (tests: the sandbox DNS server) replaces the system's resolvers.
 */

export interface DnsCheckerOptions {
  /** `ip`, `ip:port` or `[ipv6]:port` entries (config `dnsServers`); omitted: the system's resolvers. */
  servers?: readonly string[];
  /** Per try, per server (default 2000 ms). */
  timeoutMs?: number;
  /** Tries per server before a lookup fails (default 2). */
  tries?: number;
  /** Stamps `checkedAt`. */
  clock: Pick<Clock, 'now'>;
}

export type DomainProblemCode = LintCode | 'apex_cname' | 'domain_not_found' | 'lookup_failed';

export interface DomainProblem extends Omit<LintProblem, 'code' | 'name'> {
  code: DomainProblemCode;
  /** The DNS name the problem is at. */
  name: string;
}

export interface SpfFinding {
  name: string;
  /** Every SPF record at the name (more than one is itself a problem). */
  records: string[];
  /** Absent when the name has no SPF record or could not be looked up. */
  lookups?: SpfLookupReport;
}

export interface DmarcFinding {
  /** Where the record applying to the domain was found: `_dmarc.<domain>`, or a parent's when the domain has none. */
  name: string;
  record?: string;
  parsed?: DmarcRecord;
  /** Set when the record is a parent domain's, whose `sp=` (or `p=`) then applies. */
  inheritedFrom?: string;
}

export interface DomainCheck {
  domain: string;
  checkedAt: string;
  /** The expected records, in the order given. */
  records: RecordCheck[];
  spf: SpfFinding[];
  dmarc: DmarcFinding;
  /** Everything wrong beyond the individual records, errors first. */
  problems: DomainProblem[];
  /** Every record ok and no error-severity problem. */
  ok: boolean;
}

export interface CheckDomainInput {
  /** Records Sesame asks the customer to publish; each gets a RecordCheck. */
  records?: readonly ExpectedRecord[];
  /** The custom MAIL FROM domain, whose SPF record is linted as well as the apex's. */
  mailFromDomain?: string;
}

/** Codes meaning "no such record", as opposed to "no answer". */
const MISSING = new Set(['ENOTFOUND', 'ENODATA']);
/** Include targets fetched per SPF walk at most; a record needing more is far over the limit anyway. */
const MAX_SPF_FETCHES = 40;

type Lookup<T> = { ok: true; value: T } | { ok: false; code: string };

async function attempt<T>(run: () => Promise<T>): Promise<Lookup<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (e) {
    return { ok: false, code: (e as NodeJS.ErrnoException).code ?? 'EUNKNOWN' };
  }
}

export function createDnsChecker(opts: DnsCheckerOptions) {
  const timeout = opts.timeoutMs ?? 2000;
  const tries = opts.tries ?? 2;
  const { clock } = opts;
  const servers = opts.servers ? [...opts.servers] : undefined;

  // A fresh resolver per check: a person who just fixed a record and checks again must not get an answer cached from the previous check.
  const newResolver = (): Resolver => {
    const r = new Resolver({ timeout, tries });
    if (servers) r.setServers(servers);
    return r;
  };
  try {
    newResolver();
  } catch (e) {
    throw new AppError('config_invalid', `Setting SESAME_DNS_SERVERS is invalid: ${(e as Error).message}.`, {
      details: { setting: 'SESAME_DNS_SERVERS' },
      cause: e,
    });
  }

  const txt = (r: Resolver, name: string): Promise<Lookup<string[]>> =>
    attempt(async () => (await r.resolveTxt(name)).map((chunks) => chunks.join('')));

  async function check(r: Resolver, rec: ExpectedRecord): Promise<RecordCheck> {
    const base = { name: normalizeHost(rec.name), type: rec.type, expected: expectedText(rec) };
    const settle = (
      res: Lookup<unknown>,
      found: string[],
      verdict: () => Pick<RecordCheck, 'status' | 'message' | 'hint'>,
    ): RecordCheck => {
      if (!res.ok)
        return {
          ...base,
          found: [],
          ...(MISSING.has(res.code) ? missingVerdict(rec, res.code) : failedVerdict(rec, res.code)),
          error: res.code,
        };
      return { ...base, found, ...verdict() };
    };
    switch (rec.type) {
      case 'CNAME': {
        const res = await attempt(() => r.resolveCname(base.name));
        const found = res.ok ? res.value.map(normalizeHost) : [];
        return settle(res, found, () => matchCname(rec, found));
      }
      case 'MX': {
        const res = await attempt(() => r.resolveMx(base.name));
        const mx: MxFound[] = res.ok
          ? res.value.map((m) => ({ exchange: normalizeHost(m.exchange), priority: m.priority }))
          : [];
        return settle(
          res,
          mx.map((m) => `${m.priority} ${m.exchange}`),
          () => matchMx(rec, mx),
        );
      }
      case 'TXT': {
        const res = await txt(r, base.name);
        const found = res.ok ? res.value : [];
        return settle(res, found, () => matchTxt(rec, found));
      }
    }
  }

  /** Fetches a name's TXT records and, breadth first, those of every domain its SPF record includes or redirects to. */
  async function spfAt(r: Resolver, name: string): Promise<{ source: SpfSource; finding: SpfFinding }> {
    const sources = new Map<string, SpfSource>();
    let level = [name];
    while (level.length > 0 && sources.size < MAX_SPF_FETCHES) {
      const batch = level.slice(0, MAX_SPF_FETCHES - sources.size);
      for (const n of batch) sources.set(n, { status: 'missing' });
      const results = await Promise.all(batch.map((n) => txt(r, n)));
      const next = new Set<string>();
      batch.forEach((n, i) => {
        const res = results[i]!;
        const source: SpfSource = res.ok
          ? { status: 'found', records: res.value }
          : MISSING.has(res.code)
            ? { status: 'missing' }
            : { status: 'lookup_failed', code: res.code };
        sources.set(n, source);
        if (source.status !== 'found') return;
        for (const rec of source.records.filter(isSpfRecord))
          for (const target of spfTargetsOf(rec)) if (!sources.has(target)) next.add(target);
      });
      level = [...next];
    }
    const source = sources.get(name)!;
    const records = source.status === 'found' ? source.records.filter(isSpfRecord) : [];
    const finding: SpfFinding = {
      name,
      records,
      ...(records.length > 0 ? { lookups: countSpfLookups(name, (n) => sources.get(n)) } : {}),
    };
    return { source, finding };
  }

  /** `_dmarc.<domain>`, else the parents' (down to two labels, a stand-in for the organizational domain of RFC 7489 §3.2). */
  async function dmarcFor(r: Resolver, domain: string): Promise<{ finding: DmarcFinding; problems: DomainProblem[] }> {
    const own = `_dmarc.${domain}`;
    const labels = domain.split('.');
    for (let i = 0; i === 0 || labels.length - i >= 2; i++) {
      const at = `_dmarc.${labels.slice(i).join('.')}`;
      const res = await txt(r, at);
      if (!res.ok && !MISSING.has(res.code)) {
        return {
          finding: { name: own },
          problems: [
            {
              code: 'lookup_failed',
              severity: 'error',
              name: at,
              message: `Could not look up the DMARC record at ${at} (${res.code}).`,
              hint: "Check that the domain's nameservers answer, then check again.",
            },
          ],
        };
      }
      const candidates = res.ok ? res.value.filter(isDmarcCandidate) : [];
      if (candidates.length === 0) continue;
      const inherited = i > 0 ? { inheritedFrom: labels.slice(i).join('.') } : {};
      if (candidates.length > 1) {
        return {
          finding: { name: at, ...inherited },
          problems: [
            {
              code: 'dmarc_multiple',
              severity: 'error',
              name: at,
              message: `${at} has ${candidates.length} DMARC records; receivers then apply none of them (RFC 7489 §6.6.3).`,
              hint: 'Keep exactly one "v=DMARC1" TXT record there.',
            },
          ],
        };
      }
      const parsed = parseDmarc(candidates[0]!);
      return {
        finding: { name: at, record: candidates[0]!, parsed, ...inherited },
        problems: parsed.problems.map((p) => ({ ...p, name: at })),
      };
    }
    return {
      finding: { name: own },
      problems: [
        {
          code: 'dmarc_missing',
          severity: 'error',
          name: own,
          message: `${domain} has no DMARC record (none at ${own}${labels.length > 2 ? ' nor at its parent domains' : ''}).`,
          hint: `Add a TXT record named ${own} with the value "v=DMARC1; p=none; rua=mailto:dmarc-reports@${domain}" to start monitoring; Gmail and Yahoo require DMARC from bulk senders.`,
        },
      ],
    };
  }

  async function apexProblems(r: Resolver, domain: string): Promise<DomainProblem[]> {
    const res = await attempt(() => r.resolveCname(domain));
    if (res.ok) {
      return [
        {
          code: 'apex_cname',
          severity: 'error',
          name: domain,
          message: `${domain} is a CNAME to ${res.value.map(normalizeHost).join(', ')}. A domain's apex must not be a CNAME: a CNAME excludes every other record at the name (RFC 1034 §3.6.2), including the MX, TXT (SPF, verification) and NS records the apex needs.`,
          hint: "Replace the CNAME with A/AAAA records, or with your DNS provider's ALIAS, ANAME or CNAME-flattening record.",
        },
      ];
    }
    if (res.code === 'ENOTFOUND') {
      return [
        {
          code: 'domain_not_found',
          severity: 'error',
          name: domain,
          message: `${domain} does not exist in DNS (NXDOMAIN).`,
          hint: 'Check the spelling, and that the domain is registered and delegated to the nameservers where you add records.',
        },
      ];
    }
    if (res.code === 'ENODATA') return [];
    return [
      {
        code: 'lookup_failed',
        severity: 'error',
        name: domain,
        message: `Could not look up ${domain} (${res.code}).`,
        hint: "Check that the domain's nameservers answer, then check again.",
      },
    ];
  }

  return {
    /** Checks one expected record. */
    async checkRecord(rec: ExpectedRecord): Promise<RecordCheck> {
      return check(newResolver(), rec);
    },

    /** Checks several expected records, in parallel; results in the order given. */
    async checkRecords(recs: readonly ExpectedRecord[]): Promise<RecordCheck[]> {
      const r = newResolver();
      return Promise.all(recs.map((rec) => check(r, rec)));
    },

    /** Looks up a name's SPF record(s) and counts their DNS lookups through every include. */
    async checkSpf(name: string): Promise<{ finding: SpfFinding; problems: DomainProblem[] }> {
      return spfProblems(await spfAt(newResolver(), normalizeHost(name)));
    },

    /**
     * The whole-domain check: the expected records, then what makes mail fail even when each
     * record is right — SPF (duplicates, over 10 lookups, loops, missing includes) at the apex and
     * the MAIL FROM domain, DMARC (missing, several, malformed), and a CNAME at the apex.
     */
    async checkDomain(domain: string, input: CheckDomainInput = {}): Promise<DomainCheck> {
      const apex = normalizeHost(domain);
      const r = newResolver();
      const spfNames = new Set([apex]);
      if (input.mailFromDomain) spfNames.add(normalizeHost(input.mailFromDomain));
      for (const rec of input.records ?? [])
        if (rec.type === 'TXT' && isSpfRecord(rec.value)) spfNames.add(normalizeHost(rec.name));
      const [records, spf, dmarc, apexFound] = await Promise.all([
        Promise.all((input.records ?? []).map((rec) => check(r, rec))),
        Promise.all([...spfNames].map(async (n) => spfProblems(await spfAt(r, n)))),
        dmarcFor(r, apex),
        apexProblems(r, apex),
      ]);
      const problems = [...apexFound, ...spf.flatMap((s) => s.problems), ...dmarc.problems];
      problems.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
      return {
        domain: apex,
        checkedAt: clock.now().toISOString(),
        records,
        spf: spf.map((s) => s.finding),
        dmarc: dmarc.finding,
        problems,
        ok: records.every((c) => c.status === 'ok') && !problems.some((p) => p.severity === 'error'),
      };
    },
  };
}

export type DnsChecker = ReturnType<typeof createDnsChecker>;

function spfProblems({ source, finding }: { source: SpfSource; finding: SpfFinding }): {
  finding: SpfFinding;
  problems: DomainProblem[];
} {
  if (source.status === 'lookup_failed') {
    return {
      finding,
      problems: [
        {
          code: 'lookup_failed',
          severity: 'error',
          name: finding.name,
          message: `Could not look up the TXT records of ${finding.name} (${source.code}).`,
          hint: "Check that the domain's nameservers answer, then check again.",
        },
      ],
    };
  }
  const problems = (finding.lookups?.problems ?? []).map((p) => ({ ...p, name: p.name ?? finding.name }));
  return { finding, problems };
}

/** Include and redirect targets of one SPF record (parsed again by countSpfLookups: cheap, and simpler than threading results through). */
const spfTargetsOf = (record: string): string[] => spfTargets(parseSpf(record));
