import { isIPv4, isIPv6 } from 'node:net';

/**
 * Pure checks of SPF and DMARC records: no DNS here, so every rule is unit-testable. The walk that
 * fetches included domains lives in dns-check.ts and hands the records it found to countSpfLookups.
 */

export type Severity = 'error' | 'warning';

/** Stable codes: the API and the CLI show them, and people search for them. */
export type LintCode =
  | 'spf_syntax'
  | 'spf_multiple'
  | 'spf_too_many_lookups'
  | 'spf_loop'
  | 'spf_include_missing'
  | 'spf_lookup_failed'
  | 'spf_macro'
  | 'spf_ptr'
  | 'spf_terms_after_all'
  | 'dmarc_missing'
  | 'dmarc_multiple'
  | 'dmarc_version_not_first'
  | 'dmarc_policy_missing'
  | 'dmarc_tag_invalid'
  | 'dmarc_tag_duplicate'
  | 'dmarc_tag_unknown'
  | 'dmarc_syntax';

export interface LintProblem {
  code: LintCode;
  severity: Severity;
  message: string;
  hint: string;
  /** The DNS name the problem is at, when known. */
  name?: string;
  /** For DMARC: the tag at fault. */
  tag?: string;
}

// ---------------------------------------------------------------- SPF (RFC 7208)

/** RFC 7208 §4.6.4: at most 10 mechanisms and modifiers that cause DNS lookups per check. */
export const SPF_LOOKUP_LIMIT = 10;

export type SpfQualifier = '+' | '-' | '~' | '?';
export type SpfMechanism = 'all' | 'include' | 'a' | 'mx' | 'ptr' | 'ip4' | 'ip6' | 'exists';

export type SpfTerm =
  | { kind: 'mechanism'; raw: string; qualifier: SpfQualifier; mechanism: SpfMechanism; domain?: string }
  | { kind: 'modifier'; raw: string; modifier: string; value: string };

export interface SpfRecord {
  terms: SpfTerm[];
  /** The redirect= target, when present and not made irrelevant by an `all` mechanism (RFC 7208 §6.1). */
  redirect?: string;
  problems: LintProblem[];
}

const MECHANISMS: readonly SpfMechanism[] = ['all', 'include', 'a', 'mx', 'ptr', 'ip4', 'ip6', 'exists'];
/** RFC 7208 §4.6.4: the terms that cost a DNS lookup (ip4, ip6 and all do not). */
const LOOKUP_MECHANISMS: ReadonlySet<SpfMechanism> = new Set(['include', 'a', 'mx', 'ptr', 'exists']);

/** RFC 7208 §4.5: an SPF record is a TXT record starting with "v=spf1", then a space or its end. */
export function isSpfRecord(txt: string): boolean {
  return /^v=spf1(\s|$)/i.test(txt.trim());
}

const spfProblem = (code: LintCode, message: string, hint: string, severity: Severity = 'error'): LintProblem => ({
  code,
  severity,
  message,
  hint,
});
const SYNTAX_HINT =
  'Fix the term; receivers treat an SPF record with a syntax error as a permanent error (mail fails SPF).';

/** Parses one SPF record (its TXT strings already joined). Syntax problems are reported, never thrown. */
export function parseSpf(txt: string): SpfRecord {
  const problems: LintProblem[] = [];
  const terms: SpfTerm[] = [];
  const words = txt.trim().split(/\s+/);
  if (!isSpfRecord(txt)) {
    return {
      terms,
      problems: [
        spfProblem(
          'spf_syntax',
          'The record does not start with "v=spf1".',
          'An SPF record starts with "v=spf1" followed by a space.',
        ),
      ],
    };
  }
  let sawAll = false;
  const modifiersSeen = new Set<string>();
  for (const raw of words.slice(1)) {
    const mod = /^([a-z][a-z0-9_.-]*)=(.*)$/i.exec(raw);
    if (mod) {
      const modifier = mod[1]!.toLowerCase();
      const value = mod[2]!;
      if ((modifier === 'redirect' || modifier === 'exp') && modifiersSeen.has(modifier)) {
        problems.push(spfProblem('spf_syntax', `The "${modifier}=" modifier appears more than once.`, SYNTAX_HINT));
      }
      if ((modifier === 'redirect' || modifier === 'exp') && value === '')
        problems.push(spfProblem('spf_syntax', `"${raw}" has no domain.`, SYNTAX_HINT));
      modifiersSeen.add(modifier);
      terms.push({ kind: 'modifier', raw, modifier, value });
      continue;
    }
    const m = /^([+\-~?]?)([a-z0-9]+)(?::([^/]*))?(\/.*)?$/i.exec(raw);
    const mechanism = m?.[2]?.toLowerCase() as SpfMechanism | undefined;
    if (!m || !mechanism || !MECHANISMS.includes(mechanism)) {
      problems.push(spfProblem('spf_syntax', `"${raw}" is not an SPF mechanism or modifier.`, SYNTAX_HINT));
      continue;
    }
    const qualifier = (m[1] || '+') as SpfQualifier;
    const arg = m[3];
    const cidr = m[4];
    const bad = termError(mechanism, arg, cidr);
    if (bad) {
      problems.push(spfProblem('spf_syntax', `"${raw}": ${bad}.`, SYNTAX_HINT));
      continue;
    }
    if (sawAll)
      problems.push(
        spfProblem(
          'spf_terms_after_all',
          `"${raw}" comes after "all" and is never evaluated.`,
          'Move it before the "all" mechanism, or remove it.',
          'warning',
        ),
      );
    if (mechanism === 'all') sawAll = true;
    if (mechanism === 'ptr') {
      problems.push(
        spfProblem(
          'spf_ptr',
          `"${raw}": the ptr mechanism is slow and unreliable, and RFC 7208 §5.5 says not to use it.`,
          'Replace it with ip4:, ip6: or include: terms.',
          'warning',
        ),
      );
    }
    const domain =
      arg !== undefined && arg !== '' && mechanism !== 'ip4' && mechanism !== 'ip6' ? arg.toLowerCase() : undefined;
    terms.push({ kind: 'mechanism', raw, qualifier, mechanism, ...(domain !== undefined ? { domain } : {}) });
  }
  const redirectTerm = terms.find(
    (t): t is Extract<SpfTerm, { kind: 'modifier' }> => t.kind === 'modifier' && t.modifier === 'redirect',
  );
  return {
    terms,
    ...(redirectTerm && !sawAll && redirectTerm.value !== '' ? { redirect: redirectTerm.value.toLowerCase() } : {}),
    problems,
  };
}

function termError(mechanism: SpfMechanism, arg: string | undefined, cidr: string | undefined): string | undefined {
  switch (mechanism) {
    case 'all':
      return arg !== undefined || cidr !== undefined ? '"all" takes no argument' : undefined;
    case 'include':
    case 'exists':
      if (!arg) return `"${mechanism}" needs a domain, as in ${mechanism}:example.com`;
      return cidr !== undefined ? `"${mechanism}" takes no prefix length` : undefined;
    case 'ptr':
      return cidr !== undefined ? '"ptr" takes no prefix length' : undefined;
    case 'a':
    case 'mx':
      if (arg === '') return `"${mechanism}:" needs a domain after the colon`;
      return cidr === undefined || /^(\/(\d|[12]\d|3[0-2]))?(\/\/(\d{1,2}|1[01]\d|12[0-8]))?$/.test(cidr)
        ? undefined
        : 'invalid prefix length';
    case 'ip4': {
      if (!arg || !isIPv4(arg)) return '"ip4" needs an IPv4 address';
      return cidr === undefined || /^\/(\d|[12]\d|3[0-2])$/.test(cidr) ? undefined : 'an IPv4 prefix length is 0-32';
    }
    case 'ip6': {
      if (!arg || !isIPv6(arg)) return '"ip6" needs an IPv6 address';
      return cidr === undefined || /^\/(\d{1,2}|1[01]\d|12[0-8])$/.test(cidr)
        ? undefined
        : 'an IPv6 prefix length is 0-128';
    }
  }
}

/** The domains an SPF check may have to fetch next: include targets and the redirect target, except those built from macros. */
export function spfTargets(record: SpfRecord): string[] {
  const out: string[] = [];
  for (const t of record.terms)
    if (t.kind === 'mechanism' && t.mechanism === 'include' && t.domain && !hasMacro(t.domain)) out.push(t.domain);
  if (record.redirect && !hasMacro(record.redirect)) out.push(record.redirect);
  return out;
}

const hasMacro = (domain: string): boolean => domain.includes('%');

/** What DNS held at a name: every TXT record there (strings joined), nothing, or an error. */
export type SpfSource =
  { status: 'found'; records: string[] } | { status: 'missing' } | { status: 'lookup_failed'; code: string };

export interface SpfNode {
  domain: string;
  via: 'root' | 'include' | 'redirect';
  /** Lookups this record's own terms cost. */
  lookups: number;
  /** Lookups of this record and everything it pulls in. */
  total: number;
  status: 'ok' | 'missing' | 'multiple' | 'loop' | 'lookup_failed' | 'not_followed';
  children: SpfNode[];
}

export interface SpfLookupReport {
  domain: string;
  /** Lookups a receiver makes in the worst case (every term evaluated). */
  lookups: number;
  limit: number;
  tree: SpfNode;
  problems: LintProblem[];
}

/** A safety stop for records that include each other in wide diamonds: the walk never visits more nodes than this. */
const MAX_NODES = 200;

/**
 * Counts the DNS lookups evaluating `domain`'s SPF record costs, recursively through include: and
 * redirect= (RFC 7208 §4.6.4), from records already fetched. An include loop, an included domain
 * without an SPF record, and a failed lookup are each counted once and reported, as each makes
 * receivers return an error. The root's own absence is not reported here: callers decide whether a
 * missing SPF record matters at that name.
 */
export function countSpfLookups(domain: string, sources: (name: string) => SpfSource | undefined): SpfLookupReport {
  const problems: LintProblem[] = [];
  let nodes = 0;
  const seenProblems = new Set<string>();
  const report = (p: LintProblem): void => {
    const key = `${p.code} ${p.name ?? ''} ${p.message}`;
    if (!seenProblems.has(key)) problems.push(p);
    seenProblems.add(key);
  };

  function visit(name: string, via: SpfNode['via'], stack: readonly string[]): SpfNode {
    const node: SpfNode = { domain: name, via, lookups: 0, total: 0, status: 'ok', children: [] };
    nodes++;
    const src = sources(name);
    if (!src || nodes > MAX_NODES) {
      node.status = 'not_followed';
      return node;
    }
    if (src.status === 'lookup_failed') {
      node.status = 'lookup_failed';
      if (via !== 'root')
        report({
          code: 'spf_lookup_failed',
          severity: 'error',
          name,
          message: `The SPF record of ${name} (reached by ${via} from ${stack.at(-1)}) could not be looked up (${src.code}).`,
          hint: "Receivers get the same error and treat SPF as a temporary error; check the domain's DNS servers, then check again.",
        });
      return node;
    }
    const spf = src.status === 'found' ? src.records.filter(isSpfRecord) : [];
    if (spf.length === 0) {
      node.status = 'missing';
      if (via !== 'root') {
        report({
          code: 'spf_include_missing',
          severity: 'error',
          name,
          message: `${stack.at(-1)} uses ${via === 'include' ? 'include:' : 'redirect='}${name}, but ${name} has no SPF record: receivers treat that as a permanent error (RFC 7208 §5.2, §6.1).`,
          hint: `Remove ${via === 'include' ? 'include:' : 'redirect='}${name}, or correct the domain name.`,
        });
      }
      return node;
    }
    if (spf.length > 1) {
      node.status = 'multiple';
      report(multipleSpf(name, spf.length));
    }
    const record = parseSpf(spf[0]!);
    for (const p of record.problems) report({ ...p, name });
    const follow = (target: string, how: 'include' | 'redirect'): void => {
      if (hasMacro(target)) {
        report({
          code: 'spf_macro',
          severity: 'warning',
          name,
          message: `${how === 'include' ? 'include:' : 'redirect='}${target} uses a macro, so its lookups depend on each message and are not counted.`,
          hint: 'Nothing to do if this is intended; the count shown is a lower bound.',
        });
        return;
      }
      if (target === name || stack.includes(target)) {
        node.children.push({ domain: target, via: how, lookups: 0, total: 0, status: 'loop', children: [] });
        report({
          code: 'spf_loop',
          severity: 'error',
          name,
          message: `SPF loop: ${[...stack, name, target].join(' → ')}. Receivers stop at ${SPF_LOOKUP_LIMIT} lookups and fail SPF.`,
          hint: `Remove the ${how === 'include' ? 'include:' : 'redirect='}${target} that closes the loop.`,
        });
        return;
      }
      node.children.push(visit(target, how, [...stack, name]));
    };
    for (const t of record.terms) {
      if (t.kind !== 'mechanism' || !LOOKUP_MECHANISMS.has(t.mechanism)) continue;
      node.lookups++;
      if (t.mechanism === 'include' && t.domain) follow(t.domain, 'include');
    }
    if (record.redirect) {
      node.lookups++;
      follow(record.redirect, 'redirect');
    }
    node.total = node.lookups + node.children.reduce((n, c) => n + c.total, 0);
    return node;
  }

  const tree = visit(domain.toLowerCase(), 'root', []);
  if (tree.total > SPF_LOOKUP_LIMIT) {
    const heaviest = [...tree.children]
      .sort((a, b) => b.total - a.total)
      .slice(0, 3)
      .map((c) => `${c.domain} (${c.total + 1})`);
    problems.unshift({
      code: 'spf_too_many_lookups',
      severity: 'error',
      name: tree.domain,
      message: `The SPF record of ${tree.domain} needs ${tree.total} DNS lookups; receivers stop at ${SPF_LOOKUP_LIMIT} and fail SPF with a permanent error (RFC 7208 §4.6.4).`,
      hint: `Remove includes you no longer send through, or replace some with their ip4:/ip6: ranges.${heaviest.length > 0 ? ` Heaviest: ${heaviest.join(', ')}.` : ''}`,
    });
  }
  return { domain: tree.domain, lookups: tree.total, limit: SPF_LOOKUP_LIMIT, tree, problems };
}

/** RFC 7208 §3.2: a name with more than one SPF record is a permanent error. */
export function multipleSpf(name: string, count: number): LintProblem {
  return {
    code: 'spf_multiple',
    severity: 'error',
    name,
    message: `${name} has ${count} SPF records; receivers treat more than one as a permanent error (RFC 7208 §3.2), so SPF fails for all of them.`,
    hint: 'Merge them into one record: keep one "v=spf1", put every include:/ip4:/ip6: term in it, and end with a single "all".',
  };
}

// ---------------------------------------------------------------- DMARC (RFC 7489)

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

export interface DmarcRecord {
  /** Tag names lower-cased; the first value wins when a tag repeats. */
  tags: Record<string, string>;
  policy?: DmarcPolicy;
  subdomainPolicy?: DmarcPolicy;
  problems: LintProblem[];
  /** No error-severity problem: receivers apply this record as written. */
  valid: boolean;
}

const POLICIES: readonly DmarcPolicy[] = ['none', 'quarantine', 'reject'];
/** RFC 7489 §6.3 tags, plus np/psd/t from DMARCbis, which receivers have started to read. */
const KNOWN_TAGS = new Set(['v', 'p', 'sp', 'pct', 'rua', 'ruf', 'adkim', 'aspf', 'fo', 'rf', 'ri', 'np', 'psd', 't']);

/**
 * Whether a TXT record at _dmarc looks meant as DMARC. Looser than the RFC's "starts with
 * v=DMARC1", so a record with its tags in the wrong order is reported rather than silently missed.
 */
export function isDmarcCandidate(txt: string): boolean {
  return /(^|;)\s*v\s*=\s*dmarc/i.test(txt.trim());
}

/** Parses one DMARC record and reports every problem in it. */
export function parseDmarc(txt: string): DmarcRecord {
  const problems: LintProblem[] = [];
  const tags: Record<string, string> = {};
  const bad = (tag: string, message: string, hint: string, severity: Severity = 'error'): void => {
    problems.push({ code: 'dmarc_tag_invalid', severity, tag, message, hint });
  };
  const parts = txt
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  parts.forEach((part, i) => {
    const m = /^([a-z0-9]+)\s*=\s*(.*)$/i.exec(part);
    if (!m) {
      problems.push({
        code: 'dmarc_syntax',
        severity: 'error',
        message: `"${part}" is not a tag=value pair.`,
        hint: 'Write the record as tag=value pairs separated by semicolons, e.g. "v=DMARC1; p=none; rua=mailto:dmarc@example.com".',
      });
      return;
    }
    const tag = m[1]!.toLowerCase();
    const value = m[2]!.trim();
    if (i === 0 && tag !== 'v') {
      problems.push({
        code: 'dmarc_version_not_first',
        severity: 'error',
        tag: 'v',
        message: `The record starts with "${part}", not "v=DMARC1": receivers ignore it (RFC 7489 §6.3).`,
        hint: 'Put "v=DMARC1;" first.',
      });
    }
    if (tag in tags) {
      problems.push({
        code: 'dmarc_tag_duplicate',
        severity: 'error',
        tag,
        message: `The tag "${tag}" appears more than once.`,
        hint: `Keep one "${tag}=".`,
      });
      return;
    }
    tags[tag] = value;
    if (!KNOWN_TAGS.has(tag))
      problems.push({
        code: 'dmarc_tag_unknown',
        severity: 'warning',
        tag,
        message: `The tag "${tag}" is not a DMARC tag; receivers ignore it.`,
        hint: 'Check its spelling, or remove it.',
      });
  });

  if (tags.v !== undefined && tags.v !== 'DMARC1')
    bad(
      'v',
      `v=${tags.v}: the version must be exactly "DMARC1"; receivers ignore the record otherwise.`,
      'Write "v=DMARC1".',
    );
  const policyOf = (tag: 'p' | 'sp' | 'np'): DmarcPolicy | undefined => {
    const v = tags[tag];
    if (v === undefined) return undefined;
    const p = v.toLowerCase() as DmarcPolicy;
    if (POLICIES.includes(p)) return p;
    bad(
      tag,
      `${tag}=${v}: the policy must be none, quarantine or reject.`,
      `Use ${tag}=none to monitor first, then quarantine or reject.`,
    );
    return undefined;
  };
  const policy = policyOf('p');
  const subdomainPolicy = policyOf('sp');
  policyOf('np');
  if (tags.p === undefined) {
    problems.push({
      code: 'dmarc_policy_missing',
      severity: 'error',
      tag: 'p',
      message: 'The record has no "p=" policy tag, which DMARC requires.',
      hint: 'Add "p=none" (monitor), "p=quarantine" or "p=reject" right after "v=DMARC1;".',
    });
  }
  if (tags.pct !== undefined && !(/^\d{1,3}$/.test(tags.pct) && Number(tags.pct) <= 100)) {
    bad(
      'pct',
      `pct=${tags.pct}: the percentage must be a whole number from 0 to 100.`,
      'Use pct=100 (the default) unless you are rolling a policy out gradually.',
    );
  }
  for (const tag of ['rua', 'ruf'] as const) {
    const v = tags[tag];
    if (v === undefined) continue;
    for (const uri of v.split(',').map((u) => u.trim())) {
      if (!/^mailto:[^\s@!,;]+@[^\s@!,;]+\.[^\s@!,;]+(![0-9]+[kmgt]?)?$/i.test(uri)) {
        bad(
          tag,
          `${tag}: "${uri}" is not a mailto: address; receivers send ${tag === 'rua' ? 'aggregate' : 'failure'} reports only by email.`,
          `Write it as ${tag}=mailto:dmarc-reports@your-domain (several separated by commas).`,
        );
      }
    }
  }
  for (const tag of ['adkim', 'aspf'] as const) {
    const v = tags[tag];
    if (v !== undefined && !/^[rs]$/i.test(v))
      bad(
        tag,
        `${tag}=${v}: alignment must be r (relaxed) or s (strict).`,
        `Use ${tag}=r unless you need strict alignment.`,
      );
  }
  if (tags.fo !== undefined && !/^[01ds](:[01ds])*$/i.test(tags.fo))
    bad(
      'fo',
      `fo=${tags.fo}: failure options are 0, 1, d or s, separated by colons.`,
      'Use fo=1 to get a report for any failure, or remove the tag.',
    );
  if (tags.rf !== undefined && !/^(afrf|iodef)(:(afrf|iodef))*$/i.test(tags.rf))
    bad('rf', `rf=${tags.rf}: the report format must be afrf.`, 'Remove the tag (afrf is the default).');
  if (tags.ri !== undefined && !/^\d{1,10}$/.test(tags.ri))
    bad(
      'ri',
      `ri=${tags.ri}: the report interval is a number of seconds.`,
      'Use ri=86400 (the default) or remove the tag.',
    );

  return {
    tags,
    ...(policy ? { policy } : {}),
    ...(subdomainPolicy ? { subdomainPolicy } : {}),
    problems,
    valid: !problems.some((p) => p.severity === 'error'),
  };
}
