import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { createDnsChecker, type DnsChecker } from '../../src/modules/domains/dns-check.js';
import { startDnsServer, type DnsServer } from '../../src/sandbox/dns-server.js';

// Everything below asks a real DNS server on the loopback (the sandbox's), through node:dns, as production does.
let dns: DnsServer;
let checker: DnsChecker;
const clock = manualClock(new Date('2026-03-01T12:00:00Z'));

beforeAll(async () => {
  dns = await startDnsServer();
  // A ceiling, not a speed: the server answers at once, however busy the machine.
  checker = createDnsChecker({ servers: [dns.address], timeoutMs: 10_000, tries: 1, clock });
});
afterAll(() => dns.close());
beforeEach(() => dns.clear());

const D = 'example.test';
const DKIM = `abc123._domainkey.${D}`;
const MAIL_FROM = `bounce.${D}`;
const FEEDBACK = 'feedback-smtp.us-east-1.amazonses.com';

/** A free UDP port nobody listens on. */
async function closedPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('CNAME records', () => {
  const rec = { name: DKIM, type: 'CNAME' as const, value: 'abc123.dkim.amazonses.com' };

  it('is ok when the name points to the expected target, whatever the case and trailing dot', async () => {
    dns.set(DKIM.toUpperCase(), 'CNAME', ['ABC123.dkim.amazonses.com.']);
    const r = await checker.checkRecord({ ...rec, name: `${DKIM}.`, value: 'abc123.DKIM.amazonses.com.' });
    expect(r).toMatchObject({
      status: 'ok',
      name: DKIM,
      expected: 'abc123.dkim.amazonses.com',
      found: ['abc123.dkim.amazonses.com'],
      hint: '',
    });
  });

  it('is a mismatch showing both values when the target differs', async () => {
    dns.set(DKIM, 'CNAME', ['old.dkim.amazonses.com']);
    const r = await checker.checkRecord(rec);
    expect(r.status).toBe('mismatch');
    expect(r.found).toEqual(['old.dkim.amazonses.com']);
    expect(r.expected).toBe('abc123.dkim.amazonses.com');
    expect(r.message).toContain('old.dkim.amazonses.com');
    expect(r.message).toContain('abc123.dkim.amazonses.com');
    expect(r.hint).toContain(`Change the CNAME record at ${DKIM}`);
  });

  it('explains a target with the domain appended by the DNS provider', async () => {
    dns.set(DKIM, 'CNAME', [`abc123.dkim.amazonses.com.${D}`]);
    const r = await checker.checkRecord(rec);
    expect(r.status).toBe('mismatch');
    expect(r.hint).toContain('appended your domain');
  });

  it('is missing when the name does not exist (NXDOMAIN)', async () => {
    const r = await checker.checkRecord(rec);
    expect(r).toMatchObject({ status: 'missing', found: [], error: 'ENOTFOUND' });
    expect(r.message).toContain('does not exist');
    expect(r.hint).toContain(`Add a CNAME record named ${DKIM} with the value abc123.dkim.amazonses.com`);
  });

  it('is missing when the name holds other types only (NODATA)', async () => {
    dns.set(DKIM, 'TXT', ['v=DKIM1; p=MIGf']);
    const r = await checker.checkRecord(rec);
    expect(r).toMatchObject({ status: 'missing', error: 'ENODATA' });
    expect(r.message).toContain('has other records');
  });

  it('is lookup_failed when the server answers SERVFAIL', async () => {
    dns.set(DKIM, 'CNAME', [rec.value]);
    dns.fail(DKIM);
    const r = await checker.checkRecord(rec);
    expect(r).toMatchObject({ status: 'lookup_failed', error: 'ESERVFAIL', found: [] });
    expect(r.hint).toContain('not a wrong record');
  });

  it('is lookup_failed when no server answers in time', async () => {
    const port = await closedPort();
    const nobody = createDnsChecker({ servers: [`127.0.0.1:${port}`], timeoutMs: 100, tries: 1, clock });
    const r = await nobody.checkRecord(rec);
    expect(r.status).toBe('lookup_failed');
    // A closed loopback port may be reported as refused (ICMP) or as a timeout, depending on the platform.
    expect(['ETIMEOUT', 'ECONNREFUSED']).toContain(r.error);

    dns.set(DKIM, 'CNAME', [rec.value]);
    dns.fail(DKIM, 'drop');
    const silent = await checker.checkRecord(rec);
    expect(silent).toMatchObject({ status: 'lookup_failed', error: 'ETIMEOUT' });
    expect(silent.message).toContain('no DNS server answered in time');
  });
});

describe('MX records', () => {
  const rec = { name: MAIL_FROM, type: 'MX' as const, value: FEEDBACK, priority: 10 };

  it('is ok for the exchange with its priority', async () => {
    dns.set(MAIL_FROM, 'MX', [`10 ${FEEDBACK.toUpperCase()}`]);
    const r = await checker.checkRecord(rec);
    expect(r).toMatchObject({ status: 'ok', expected: `10 ${FEEDBACK}`, found: [`10 ${FEEDBACK}`] });
  });

  it('is a mismatch when only the priority differs', async () => {
    dns.set(MAIL_FROM, 'MX', [`20 ${FEEDBACK}`]);
    const r = await checker.checkRecord(rec);
    expect(r).toMatchObject({ status: 'mismatch', found: [`20 ${FEEDBACK}`], expected: `10 ${FEEDBACK}` });
    expect(r.message).toContain('priority 20 instead of 10');
  });

  it('is a mismatch showing both when the exchange differs', async () => {
    dns.set(MAIL_FROM, 'MX', ['10 mx.other.test']);
    const r = await checker.checkRecord(rec);
    expect(r).toMatchObject({ status: 'mismatch', found: ['10 mx.other.test'] });
    expect(r.message).toContain('10 mx.other.test');
    expect(r.message).toContain(`10 ${FEEDBACK}`);
  });

  it('is a mismatch when another exchange is preferred', async () => {
    dns.set(MAIL_FROM, 'MX', [`10 ${FEEDBACK}`, '5 mx.other.test']);
    const r = await checker.checkRecord(rec);
    expect(r.status).toBe('mismatch');
    expect(r.message).toContain('5 mx.other.test');
    expect(r.hint).toContain('Remove the other MX records');
  });

  it('is missing, and lookup_failed on SERVFAIL', async () => {
    expect(await checker.checkRecord(rec)).toMatchObject({ status: 'missing', error: 'ENOTFOUND' });
    dns.set(MAIL_FROM, 'TXT', ['v=spf1 include:amazonses.com ~all']);
    expect(await checker.checkRecord(rec)).toMatchObject({ status: 'missing', error: 'ENODATA' });
    dns.fail(MAIL_FROM);
    expect(await checker.checkRecord(rec)).toMatchObject({ status: 'lookup_failed', error: 'ESERVFAIL' });
  });
});

describe('TXT records', () => {
  const spf = { name: MAIL_FROM, type: 'TXT' as const, value: 'v=spf1 include:amazonses.com ~all' };

  it('compares the SPF record among other TXT records', async () => {
    dns.set(MAIL_FROM, 'TXT', ['google-site-verification=xyz', 'v=spf1  include:AMAZONSES.com ~all']);
    const r = await checker.checkRecord(spf);
    expect(r.status).toBe('ok');
    expect(r.found).toEqual(
      expect.arrayContaining(['google-site-verification=xyz', 'v=spf1  include:AMAZONSES.com ~all']),
    );
  });

  it('accepts an SPF record that keeps other senders and has every expected term', async () => {
    dns.set(MAIL_FROM, 'TXT', ['v=spf1 include:_spf.google.com include:amazonses.com -all']);
    expect((await checker.checkRecord(spf)).status).toBe('ok');
  });

  it('is a mismatch showing both when the SPF record lacks a term', async () => {
    dns.set(MAIL_FROM, 'TXT', ['v=spf1 include:_spf.google.com ~all']);
    const r = await checker.checkRecord(spf);
    expect(r).toMatchObject({
      status: 'mismatch',
      found: ['v=spf1 include:_spf.google.com ~all'],
      expected: spf.value,
    });
    expect(r.message).toContain('lacks include:amazonses.com');
    expect(r.hint).toContain('do not add a second one');
  });

  it('is a mismatch when the name has two SPF records', async () => {
    dns.set(MAIL_FROM, 'TXT', [spf.value, 'v=spf1 include:_spf.google.com ~all']);
    const r = await checker.checkRecord(spf);
    expect(r.status).toBe('mismatch');
    expect(r.message).toContain('2 SPF records');
  });

  it('is missing when the name has TXT records but no SPF one, and shows them', async () => {
    dns.set(MAIL_FROM, 'TXT', ['some-verification=1']);
    const r = await checker.checkRecord(spf);
    expect(r).toMatchObject({ status: 'missing', found: ['some-verification=1'] });
    expect(r.message).toContain('1 other TXT record');
  });

  it('is missing (NXDOMAIN) and lookup_failed (SERVFAIL)', async () => {
    expect(await checker.checkRecord(spf)).toMatchObject({ status: 'missing', error: 'ENOTFOUND' });
    dns.fail(MAIL_FROM);
    expect(await checker.checkRecord(spf)).toMatchObject({ status: 'lookup_failed', error: 'ESERVFAIL' });
  });

  it('compares DMARC tag by tag', async () => {
    const rec = { name: `_dmarc.${D}`, type: 'TXT' as const, value: 'v=DMARC1; p=none; rua=mailto:dmarc@example.test' };
    dns.set(`_dmarc.${D}`, 'TXT', ['v=DMARC1;p=none;  rua=mailto:dmarc@example.test;']);
    expect((await checker.checkRecord(rec)).status).toBe('ok');
    dns.set(`_dmarc.${D}`, 'TXT', ['v=DMARC1; p=reject; rua=mailto:dmarc@example.test']);
    const r = await checker.checkRecord(rec);
    expect(r.status).toBe('mismatch');
    expect(r.message).toContain('p=reject instead of p=none');
  });

  it('serves a long DKIM key split into 255-byte strings and matches it joined', async () => {
    const key = `v=DKIM1; k=rsa; p=${'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'.repeat(9)}IDAQAB`;
    expect(key.length).toBeGreaterThan(255);
    dns.set(DKIM, 'TXT', [key]);
    const raw = new Resolver({ timeout: 10_000, tries: 1 });
    raw.setServers([dns.address]);
    const [chunks] = await raw.resolveTxt(DKIM);
    expect(chunks!.length).toBe(Math.ceil(key.length / 255));
    expect(chunks!.every((c) => c.length <= 255)).toBe(true);
    expect(chunks!.join('')).toBe(key);

    const rec = { name: DKIM, type: 'TXT' as const, value: key };
    expect((await checker.checkRecord(rec)).status).toBe('ok');
    dns.set(DKIM, 'TXT', [key.slice(0, 255)]);
    const cut = await checker.checkRecord(rec);
    expect(cut.status).toBe('mismatch');
    expect(cut.message).toContain('was it cut when pasted');
  });

  it('matches a plain token exactly, other TXT records at the name notwithstanding', async () => {
    const rec = {
      name: `_amazonses.${D}`,
      type: 'TXT' as const,
      value: 'pmBGN/7MjnfhTKUZ06Enqq1PeGUaOkw8lGhcfwefcHU=',
    };
    dns.set(`_amazonses.${D}`, 'TXT', ['other', rec.value]);
    expect((await checker.checkRecord(rec)).status).toBe('ok');
    dns.set(`_amazonses.${D}`, 'TXT', [rec.value.toLowerCase()]);
    expect((await checker.checkRecord(rec)).status).toBe('mismatch');
  });

  it('checks several records at once, in order', async () => {
    dns.set(DKIM, 'CNAME', ['abc123.dkim.amazonses.com']);
    const rs = await checker.checkRecords([{ name: DKIM, type: 'CNAME', value: 'abc123.dkim.amazonses.com' }, spf]);
    expect(rs.map((r) => [r.type, r.status])).toEqual([
      ['CNAME', 'ok'],
      ['TXT', 'missing'],
    ]);
  });
});

/** A valid baseline: apex with A and SPF, DMARC present; tests then break one thing. */
function healthyDomain(): void {
  dns.set(D, 'A', ['192.0.2.10']);
  dns.set(D, 'TXT', ['v=spf1 include:amazonses.com ~all']);
  dns.set('amazonses.com', 'TXT', ['v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 -all']);
  dns.set(`_dmarc.${D}`, 'TXT', ['v=DMARC1; p=quarantine; rua=mailto:dmarc@example.test']);
}

/** An SPF record at `name` costing exactly `lookups` lookups: a chain of includes ending in a record with one `a`. */
function spfChain(name: string, lookups: number): void {
  const hop = (i: number): string => `c${i}.chain.test`;
  dns.set(name, 'TXT', [`v=spf1 include:${hop(1)} ~all`]);
  for (let i = 1; i < lookups - 1; i++) dns.set(hop(i), 'TXT', [`v=spf1 include:${hop(i + 1)} ~all`]);
  dns.set(hop(lookups - 1), 'TXT', ['v=spf1 a ip4:192.0.2.0/24 ~all']);
}

const codes = (c: { problems: { code: string }[] }): string[] => c.problems.map((p) => p.code);

describe('checkDomain', () => {
  it('reports a healthy domain as ok, with the records, SPF count and DMARC it found', async () => {
    healthyDomain();
    dns.set(DKIM, 'CNAME', ['abc123.dkim.amazonses.com']);
    const c = await checker.checkDomain(D.toUpperCase(), {
      records: [{ name: DKIM, type: 'CNAME', value: 'abc123.dkim.amazonses.com' }],
    });
    expect(c).toMatchObject({ domain: D, ok: true, problems: [], checkedAt: '2026-03-01T12:00:00.000Z' });
    expect(c.records[0]!.status).toBe('ok');
    expect(c.spf).toEqual([
      expect.objectContaining({
        name: D,
        records: ['v=spf1 include:amazonses.com ~all'],
        lookups: expect.objectContaining({ lookups: 1, limit: 10 }),
      }),
    ]);
    expect(c.dmarc).toMatchObject({
      name: `_dmarc.${D}`,
      record: 'v=DMARC1; p=quarantine; rua=mailto:dmarc@example.test',
      parsed: { policy: 'quarantine', valid: true },
    });
  });

  it('is not ok when an expected record is not', async () => {
    healthyDomain();
    const c = await checker.checkDomain(D, {
      records: [{ name: DKIM, type: 'CNAME', value: 'abc123.dkim.amazonses.com' }],
    });
    expect(c.ok).toBe(false);
    expect(c.problems).toEqual([]);
    expect(c.records[0]!.status).toBe('missing');
  });

  it('flags two SPF records at a name', async () => {
    healthyDomain();
    dns.set(D, 'TXT', ['v=spf1 include:amazonses.com ~all', 'v=spf1 include:_spf.google.com ~all']);
    dns.set('_spf.google.com', 'TXT', ['v=spf1 ip4:192.0.2.0/24 ~all']);
    const c = await checker.checkDomain(D);
    expect(c.ok).toBe(false);
    expect(c.problems).toEqual([expect.objectContaining({ code: 'spf_multiple', severity: 'error', name: D })]);
    expect(c.spf[0]!.records).toHaveLength(2);
  });

  it("also lints the MAIL FROM domain's SPF record", async () => {
    healthyDomain();
    dns.set(MAIL_FROM, 'TXT', ['v=spf1 include:amazonses.com ~all', 'v=spf1 -all']);
    const c = await checker.checkDomain(D, { mailFromDomain: MAIL_FROM });
    expect(c.spf.map((s) => s.name)).toEqual([D, MAIL_FROM]);
    expect(c.problems).toEqual([expect.objectContaining({ code: 'spf_multiple', name: MAIL_FROM })]);
  });

  it('accepts exactly 10 lookups through nested includes', async () => {
    healthyDomain();
    spfChain(D, 10);
    const c = await checker.checkDomain(D);
    expect(c.spf[0]!.lookups!.lookups).toBe(10);
    expect(codes(c)).toEqual([]);
    expect(c.ok).toBe(true);
  });

  it('flags 11 lookups through nested includes', async () => {
    healthyDomain();
    spfChain(D, 11);
    const c = await checker.checkDomain(D);
    expect(c.spf[0]!.lookups!.lookups).toBe(11);
    expect(c.problems).toEqual([expect.objectContaining({ code: 'spf_too_many_lookups', severity: 'error', name: D })]);
    expect(c.problems[0]!.message).toContain('needs 11 DNS lookups');
  });

  it('counts a, mx, ptr, exists and redirect, not ip4, ip6 or all', async () => {
    healthyDomain();
    dns.set(D, 'TXT', ['v=spf1 a mx ptr exists:%{i}.x.test ip4:192.0.2.1 ip6:2001:db8::/32 redirect=r.test']);
    dns.set('r.test', 'TXT', ['v=spf1 a:one.test a:two.test mx:three.test mx:four.test include:amazonses.com -all']);
    const c = await checker.checkDomain(D);
    expect(c.spf[0]!.lookups!.lookups).toBe(10);
    expect(codes(c)).toEqual(['spf_ptr']);
  });

  it('flags an include loop', async () => {
    healthyDomain();
    dns.set(D, 'TXT', ['v=spf1 include:a.loop.test ~all']);
    dns.set('a.loop.test', 'TXT', ['v=spf1 include:b.loop.test ~all']);
    dns.set('b.loop.test', 'TXT', ['v=spf1 include:a.loop.test ~all']);
    const c = await checker.checkDomain(D);
    const loop = c.problems.find((p) => p.code === 'spf_loop');
    expect(loop?.message).toContain(`${D} → a.loop.test → b.loop.test → a.loop.test`);
    expect(c.ok).toBe(false);
  });

  it('flags an include of a domain without SPF record, and one whose lookup fails', async () => {
    healthyDomain();
    dns.set(D, 'TXT', ['v=spf1 include:gone.test include:broken.test ~all']);
    dns.fail('broken.test');
    const c = await checker.checkDomain(D);
    expect(c.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'spf_include_missing', name: 'gone.test' }),
        expect.objectContaining({ code: 'spf_lookup_failed', name: 'broken.test' }),
      ]),
    );
    expect(c.spf[0]!.lookups!.lookups).toBe(2);
  });

  it('flags a missing DMARC record', async () => {
    healthyDomain();
    dns.remove(`_dmarc.${D}`);
    const c = await checker.checkDomain(D);
    expect(c.problems).toEqual([expect.objectContaining({ code: 'dmarc_missing', name: `_dmarc.${D}` })]);
    expect(c.problems[0]!.hint).toContain(`TXT record named _dmarc.${D}`);
    expect(c.dmarc).toEqual({ name: `_dmarc.${D}` });
  });

  it('reports each problem of a malformed DMARC record', async () => {
    healthyDomain();
    dns.set(`_dmarc.${D}`, 'TXT', ['p=bogus; v=DMARC1; pct=150; rua=https://reports.example.test/dmarc']);
    const c = await checker.checkDomain(D);
    expect(c.problems.map((p) => [p.code, p.tag])).toEqual([
      ['dmarc_version_not_first', 'v'],
      ['dmarc_tag_invalid', 'p'],
      ['dmarc_tag_invalid', 'pct'],
      ['dmarc_tag_invalid', 'rua'],
    ]);
    expect(c.dmarc.parsed?.valid).toBe(false);
  });

  it('flags two DMARC records', async () => {
    healthyDomain();
    dns.add(`_dmarc.${D}`, 'TXT', 'v=DMARC1; p=none');
    expect(codes(await checker.checkDomain(D))).toEqual(['dmarc_multiple']);
  });

  it("uses the parent domain's DMARC record for a subdomain without one", async () => {
    healthyDomain();
    const sub = `news.${D}`;
    dns.set(sub, 'A', ['192.0.2.11']);
    const c = await checker.checkDomain(sub);
    expect(c.dmarc).toMatchObject({ name: `_dmarc.${D}`, inheritedFrom: D, parsed: { valid: true } });
    expect(codes(c)).toEqual([]);
  });

  it('flags a CNAME at the apex', async () => {
    dns.set(D, 'CNAME', ['hosting.example.net']);
    dns.set(`_dmarc.${D}`, 'TXT', ['v=DMARC1; p=none']);
    const c = await checker.checkDomain(D);
    const p = c.problems.find((x) => x.code === 'apex_cname');
    expect(p).toMatchObject({ severity: 'error', name: D });
    expect(p!.message).toContain('hosting.example.net');
  });

  it('flags a domain that does not exist, and names whose lookup fails', async () => {
    expect(codes(await checker.checkDomain('nowhere.test'))).toEqual(['domain_not_found', 'dmarc_missing']);
    healthyDomain();
    dns.fail(`_dmarc.${D}`);
    const c = await checker.checkDomain(D);
    expect(c.problems).toEqual([expect.objectContaining({ code: 'lookup_failed', name: `_dmarc.${D}` })]);
  });
});

describe('SESAME_DNS_SERVERS', () => {
  const load = (v: string) => loadConfig({ SESAME_DNS_SERVERS: v, SESAME_DATA_DIR: '/nonexistent-sesame-test' });

  it('takes ip, ip:port, ipv6 and [ipv6]:port entries', () => {
    expect(load('192.0.2.1, 127.0.0.1:5353,::1,[2001:db8::1]:53').dnsServers).toEqual([
      '192.0.2.1',
      '127.0.0.1:5353',
      '::1',
      '[2001:db8::1]:53',
    ]);
    expect(loadConfig({ SESAME_DATA_DIR: '/nonexistent-sesame-test' }).dnsServers).toBeUndefined();
  });

  it('refuses host names, bad ports and empty lists, naming the setting', () => {
    for (const bad of ['dns.example.com', '127.0.0.1:0', '127.0.0.1:70000', '2001:db8::1:53:x', ' , ']) {
      expect(() => load(bad), bad).toThrow(
        expect.objectContaining({ code: 'config_invalid', details: { setting: 'SESAME_DNS_SERVERS' } }),
      );
    }
  });

  it('the checker refuses servers the resolver cannot use', () => {
    expect(() => createDnsChecker({ servers: ['not-an-ip'], clock })).toThrow(
      expect.objectContaining({ code: 'config_invalid' }),
    );
  });
});
