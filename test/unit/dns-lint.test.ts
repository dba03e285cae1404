import { describe, expect, it } from 'vitest';
import {
  countSpfLookups,
  isDmarcCandidate,
  isSpfRecord,
  parseDmarc,
  parseSpf,
  spfTargets,
  type SpfSource,
} from '../../src/modules/domains/lint.js';
import { matchCname, matchMx, matchTxt } from '../../src/modules/domains/match.js';
import { quoteTxt, renderZone, splitTxtStrings } from '../../src/modules/domains/zone.js';

/** SPF sources from a plain table: a name absent from it does not exist. */
const table =
  (records: Record<string, string | string[] | { fail: string }>) =>
  (name: string): SpfSource => {
    const r = records[name];
    if (r === undefined) return { status: 'missing' };
    if (typeof r === 'object' && !Array.isArray(r)) return { status: 'lookup_failed', code: r.fail };
    return { status: 'found', records: Array.isArray(r) ? r : [r] };
  };
const codes = (ps: { code: string }[]): string[] => ps.map((p) => p.code);

describe('SPF parsing', () => {
  it('recognises SPF records by their version, case-insensitively', () => {
    expect(isSpfRecord('v=spf1 -all')).toBe(true);
    expect(isSpfRecord('V=SPF1')).toBe(true);
    expect(isSpfRecord('v=spf10 -all')).toBe(false);
    expect(isSpfRecord('google-site-verification=v=spf1')).toBe(false);
  });

  it('splits terms into qualified mechanisms and modifiers', () => {
    const r = parseSpf(
      'v=spf1 +a mx:mail.example.test/24 ~include:_spf.Example.test ip4:192.0.2.0/24 ip6:2001:db8::/32 ?exists:%{i}.x.test redirect=_spf.example.test exp=explain.example.test',
    );
    expect(r.problems).toEqual([]);
    expect(
      r.terms.map((t) =>
        t.kind === 'mechanism'
          ? `${t.qualifier}${t.mechanism}${t.domain ? `:${t.domain}` : ''}`
          : `${t.modifier}=${t.value}`,
      ),
    ).toEqual([
      '+a',
      '+mx:mail.example.test',
      '~include:_spf.example.test',
      '+ip4',
      '+ip6',
      '?exists:%{i}.x.test',
      'redirect=_spf.example.test',
      'exp=explain.example.test',
    ]);
    expect(r.redirect).toBe('_spf.example.test');
    // Macros cannot be followed without a message to expand them with.
    expect(spfTargets(r)).toEqual(['_spf.example.test', '_spf.example.test']);
  });

  it('ignores redirect= when the record has an all mechanism (RFC 7208 §6.1)', () => {
    expect(parseSpf('v=spf1 -all redirect=x.test').redirect).toBeUndefined();
  });

  it('reports syntax errors, terms after all and ptr', () => {
    const r = parseSpf(
      'v=spf1 include: ip4:300.1.1.1 ip4:192.0.2.0/33 ip6:zz a/40 foo all:x redirect=a.test redirect=b.test -all mx ptr',
    );
    expect(r.problems.map((p) => [p.code, p.severity])).toEqual([
      ['spf_syntax', 'error'], // include: without domain
      ['spf_syntax', 'error'], // ip4 not an address
      ['spf_syntax', 'error'], // prefix 33
      ['spf_syntax', 'error'], // ip6 not an address
      ['spf_syntax', 'error'], // a/40
      ['spf_syntax', 'error'], // foo
      ['spf_syntax', 'error'], // all:x
      ['spf_syntax', 'error'], // second redirect
      ['spf_terms_after_all', 'warning'],
      ['spf_terms_after_all', 'warning'],
      ['spf_ptr', 'warning'],
    ]);
    expect(r.problems[5]!.message).toContain('"foo"');
  });
});

describe('SPF lookup counting (RFC 7208 §4.6.4)', () => {
  it('counts include, a, mx, ptr, exists and redirect, recursively; not ip4, ip6, all or exp', () => {
    const r = countSpfLookups(
      'example.test',
      table({
        'example.test': 'v=spf1 a mx ip4:192.0.2.1 ip6:2001:db8::1 include:one.test exp=e.test redirect=two.test',
        'one.test': 'v=spf1 ptr exists:x.test include:leaf.test -all',
        'two.test': 'v=spf1 a:x.test -all',
        'leaf.test': 'v=spf1 ip4:192.0.2.0/24 -all',
      }),
    );
    // example.test: a mx include redirect = 4; one.test: ptr exists include = 3; two.test: 1; leaf: 0
    expect(r.lookups).toBe(8);
    expect(r.tree.children.map((c) => [c.domain, c.via, c.total])).toEqual([
      ['one.test', 'include', 3],
      ['two.test', 'redirect', 1],
    ]);
    expect(codes(r.problems)).toEqual(['spf_ptr']);
  });

  it('allows 10 and flags 11, naming the heaviest includes', () => {
    const terms = (n: number): string => Array.from({ length: n }, (_, i) => `a:h${i}.test`).join(' ');
    expect(
      countSpfLookups(
        'd.test',
        table({ 'd.test': `v=spf1 include:big.test ${terms(1)} -all`, 'big.test': `v=spf1 ${terms(8)} -all` }),
      ).problems,
    ).toEqual([]);
    const over = countSpfLookups(
      'd.test',
      table({ 'd.test': `v=spf1 include:big.test ${terms(1)} -all`, 'big.test': `v=spf1 ${terms(9)} -all` }),
    );
    expect(over.lookups).toBe(11);
    expect(over.problems).toEqual([
      expect.objectContaining({ code: 'spf_too_many_lookups', severity: 'error', name: 'd.test' }),
    ]);
    expect(over.problems[0]!.hint).toContain('big.test (10)');
  });

  it('counts an include reached twice twice, as receivers do', () => {
    const r = countSpfLookups(
      'd.test',
      table({
        'd.test': 'v=spf1 include:x.test include:y.test -all',
        'x.test': 'v=spf1 include:z.test -all',
        'y.test': 'v=spf1 include:z.test -all',
        'z.test': 'v=spf1 a mx -all',
      }),
    );
    expect(r.lookups).toBe(2 + 1 + 1 + 2 + 2);
    expect(r.problems).toEqual([]);
  });

  it('reports a loop (including a record including itself) once, and stops there', () => {
    const loop = countSpfLookups(
      'd.test',
      table({
        'd.test': 'v=spf1 include:a.test -all',
        'a.test': 'v=spf1 include:b.test -all',
        'b.test': 'v=spf1 include:a.test -all',
      }),
    );
    expect(codes(loop.problems)).toEqual(['spf_loop']);
    expect(loop.problems[0]!.message).toContain('d.test → a.test → b.test → a.test');
    expect(loop.lookups).toBe(3);
    const self = countSpfLookups('d.test', table({ 'd.test': 'v=spf1 redirect=d.test' }));
    expect(codes(self.problems)).toEqual(['spf_loop']);
  });

  it('reports includes without an SPF record, failed lookups, duplicates and macros', () => {
    const r = countSpfLookups(
      'd.test',
      table({
        'd.test':
          'v=spf1 include:none.test include:text-only.test include:down.test include:two.test include:%{d}.m.test -all',
        'text-only.test': 'just some text',
        'down.test': { fail: 'ETIMEOUT' },
        'two.test': ['v=spf1 -all', 'v=spf1 ~all'],
      }),
    );
    expect(r.lookups).toBe(5);
    expect(codes(r.problems)).toEqual([
      'spf_include_missing',
      'spf_include_missing',
      'spf_lookup_failed',
      'spf_multiple',
      'spf_macro',
    ]);
    expect(r.problems[0]!.message).toContain('d.test uses include:none.test');
  });

  it("does not report the root's own absence: callers decide whether it matters", () => {
    expect(countSpfLookups('d.test', table({})).problems).toEqual([]);
  });
});

describe('DMARC parsing (RFC 7489 §6.3)', () => {
  it('parses a valid record', () => {
    const r = parseDmarc(
      'v=DMARC1; p=Reject; sp=quarantine; pct=50; rua=mailto:a@example.test,mailto:b@example.test!10m; ruf=mailto:f@example.test; adkim=s; aspf=r; fo=0:d; rf=afrf; ri=3600;',
    );
    expect(r).toMatchObject({ valid: true, policy: 'reject', subdomainPolicy: 'quarantine', problems: [] });
    expect(r.tags.pct).toBe('50');
  });

  it('finds records meant as DMARC even with tags out of order', () => {
    expect(isDmarcCandidate('v=DMARC1; p=none')).toBe(true);
    expect(isDmarcCandidate('p=none; v=DMARC1')).toBe(true);
    expect(isDmarcCandidate('v=spf1 -all')).toBe(false);
  });

  it('reports each problem with its tag', () => {
    const r = parseDmarc(
      'p=maybe; v=DMARC1; sp=all; pct=150; rua=https://x.test/r, mailto:ok@x.test; ruf=mailto:nobody; adkim=x; aspf=relaxed; fo=2; rf=json; ri=daily; p=none; colour=blue; junk',
    );
    expect(r.valid).toBe(false);
    expect(r.problems.map((p) => [p.code, p.tag])).toEqual([
      ['dmarc_version_not_first', 'v'],
      ['dmarc_tag_duplicate', 'p'],
      ['dmarc_tag_unknown', 'colour'],
      ['dmarc_syntax', undefined],
      ['dmarc_tag_invalid', 'p'],
      ['dmarc_tag_invalid', 'sp'],
      ['dmarc_tag_invalid', 'pct'],
      ['dmarc_tag_invalid', 'rua'],
      ['dmarc_tag_invalid', 'ruf'],
      ['dmarc_tag_invalid', 'adkim'],
      ['dmarc_tag_invalid', 'aspf'],
      ['dmarc_tag_invalid', 'fo'],
      ['dmarc_tag_invalid', 'rf'],
      ['dmarc_tag_invalid', 'ri'],
    ]);
    expect(r.problems.find((p) => p.tag === 'rua')!.message).toContain('https://x.test/r');
  });

  it('requires p and the exact version DMARC1', () => {
    expect(codes(parseDmarc('v=DMARC1; rua=mailto:a@example.test').problems)).toEqual(['dmarc_policy_missing']);
    expect(parseDmarc('v=dmarc1; p=none').problems).toEqual([
      expect.objectContaining({ code: 'dmarc_tag_invalid', tag: 'v' }),
    ]);
    expect(parseDmarc('v=DMARC1; p=none; pct=100').valid).toBe(true);
    expect(parseDmarc('v=DMARC1; p=none; pct=-1').valid).toBe(false);
  });
});

describe('record matching', () => {
  it('CNAME ignores case and a trailing dot', () => {
    expect(matchCname({ name: 'a.test', type: 'CNAME', value: 'T.Example.' }, ['t.example']).status).toBe('ok');
    expect(matchCname({ name: 'a.test', type: 'CNAME', value: 't.example' }, ['u.example']).status).toBe('mismatch');
  });

  it('MX needs the exchange, its priority, and no preferred rival', () => {
    const rec = { name: 'b.test', type: 'MX' as const, value: 'mx.test', priority: 10 };
    expect(
      matchMx(rec, [
        { exchange: 'MX.test.', priority: 10 },
        { exchange: 'backup.test', priority: 20 },
      ]).status,
    ).toBe('ok');
    expect(matchMx(rec, [{ exchange: 'mx.test', priority: 20 }]).message).toContain('priority 20 instead of 10');
    expect(
      matchMx(rec, [
        { exchange: 'mx.test', priority: 10 },
        { exchange: 'other.test', priority: 10 },
      ]).status,
    ).toBe('mismatch');
    expect(matchMx({ ...rec, priority: undefined }, [{ exchange: 'mx.test', priority: 30 }]).status).toBe('ok');
  });

  it('TXT compares SPF by terms, DKIM without white space, tokens exactly', () => {
    const spf = { name: 'c.test', type: 'TXT' as const, value: 'v=spf1 include:amazonses.com ~all' };
    expect(matchTxt(spf, ['v=spf1 ip4:192.0.2.1 +include:amazonses.com -all']).status).toBe('ok');
    expect(matchTxt(spf, ['v=spf1 ~include:amazonses.com -all']).status).toBe('mismatch');
    const dkim = { name: 'k._domainkey.c.test', type: 'TXT' as const, value: 'v=DKIM1; k=rsa; p=ABCDEF' };
    expect(matchTxt(dkim, ['v=DKIM1;k=rsa;p=ABC DEF']).status).toBe('ok');
    expect(matchTxt(dkim, ['v=DKIM1; k=rsa; p=ABCDEG']).status).toBe('mismatch');
    expect(matchTxt(dkim, []).status).toBe('missing');
    const token = { name: '_amazonses.c.test', type: 'TXT' as const, value: 'Tok=' };
    expect(matchTxt(token, ['x', 'Tok=']).status).toBe('ok');
    expect(matchTxt(token, ['tok=']).status).toBe('mismatch');
  });
});

describe('zone-file snippets', () => {
  it('renders absolute names, TTL, class, type and value, names aligned', () => {
    const zone = renderZone([
      { name: 'abc._domainkey.Example.test', type: 'CNAME', value: 'abc.dkim.amazonses.com' },
      { name: 'bounce.example.test', type: 'MX', value: 'feedback-smtp.us-east-1.amazonses.com', priority: 10 },
      { name: 'bounce.example.test.', type: 'TXT', value: 'v=spf1 include:amazonses.com ~all', ttl: 3600 },
      { name: 'example.test', type: 'A', value: '192.0.2.1' },
    ]);
    expect(zone).toBe(
      [
        'abc._domainkey.example.test. 300 IN CNAME abc.dkim.amazonses.com.',
        'bounce.example.test.         300 IN MX 10 feedback-smtp.us-east-1.amazonses.com.',
        'bounce.example.test.         3600 IN TXT "v=spf1 include:amazonses.com ~all"',
        'example.test.                300 IN A 192.0.2.1',
        '',
      ].join('\n'),
    );
    expect(renderZone([])).toBe('');
  });

  it('quotes TXT values in 255-byte strings, escaping quotes, backslashes and non-ASCII bytes', () => {
    const key = `p=${'A'.repeat(600)}`;
    const strings = splitTxtStrings(key);
    expect(strings.map((s) => s.length)).toEqual([255, 255, 92]);
    expect(strings.join('')).toBe(key);
    expect(quoteTxt(key)).toBe(strings.map((s) => `"${s}"`).join(' '));
    expect(quoteTxt('say "hi" \\ é')).toBe('"say \\"hi\\" \\\\ \\195\\169"');
    // A two-byte character is never split across strings.
    const wide = splitTxtStrings(`${'a'.repeat(254)}é`);
    expect(wide).toEqual(['a'.repeat(254), 'é']);
  });
});
