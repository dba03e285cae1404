import { generateKeyPairSync } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type DnsServer, startDnsServer } from '../../src/sandbox/dns-server.js';
import { connectedRole, type Harness, startHarness } from '../helpers/harness.js';

/**
 * Domains end to end: Sesame creates the SES identity in the sandbox, hands out the records,
 * looks them up in a real DNS server on loopback, and the sandbox SES verifies the identity
 * from that same DNS server, as SES does.
 */
let dns: DnsServer;
let h: Harness;
let connId: string;

beforeAll(async () => {
  dns = await startDnsServer();
});
afterAll(async () => {
  await dns.close();
});
beforeEach(async () => {
  dns.clear();
  h = await startHarness({ sandbox: { dnsServers: [dns.address] }, env: { SESAME_DNS_SERVERS: dns.address } });
  connId = (await connectedRole(h, 'prod')).id;
  h.sandbox.admin.setAccount({
    account: '222222222222',
    region: 'us-east-1',
    productionAccessEnabled: true,
    maxSendRate: 100,
    max24HourSend: 100_000,
  });
});
afterEach(async () => {
  await h.close();
  vi.useRealTimers();
});

type Rec = {
  purpose: string;
  name: string;
  type: 'CNAME' | 'MX' | 'TXT';
  value: string;
  priority?: number;
  check: { status: string; found: string[] } | null;
};
/** Play the person at their DNS console: publish what Sesame asked for. */
function publish(records: Rec[], only?: (r: Rec) => boolean): void {
  for (const r of records.filter(only ?? (() => true)))
    dns.add(r.name, r.type, r.type === 'MX' ? `${r.priority} ${r.value}` : r.value);
}

describe('domains', () => {
  it('adds a domain: SES identity with Easy DKIM, custom MAIL FROM, the records to publish, each checked', async () => {
    const res = await h.call('POST', '/v1/domains', {
      domain: 'Example.org',
      connection: 'prod',
      dmarcReportEmail: 'dmarc@example.org',
    });
    expect(res.status, res.text).toBe(201);
    const d = res.json;
    expect(d).toMatchObject({
      name: 'example.org',
      kind: 'domain',
      origin: 'created',
      status: 'pending',
      mailFrom: { domain: 'mail.example.org', status: 'PENDING' },
    });
    const dkim = d.records.filter((r: Rec) => r.purpose === 'dkim');
    expect(dkim).toHaveLength(3);
    for (const r of dkim) {
      const token = r.name.split('.')[0];
      expect(r).toMatchObject({
        type: 'CNAME',
        name: `${token}._domainkey.example.org`,
        value: `${token}.dkim.amazonses.com`,
        check: { status: 'missing' },
      });
    }
    expect(d.records.find((r: Rec) => r.purpose === 'mail_from_mx')).toMatchObject({
      name: 'mail.example.org',
      type: 'MX',
      value: 'feedback-smtp.us-east-1.amazonses.com',
      priority: 10,
    });
    expect(d.records.find((r: Rec) => r.purpose === 'mail_from_spf')).toMatchObject({
      name: 'mail.example.org',
      type: 'TXT',
      value: 'v=spf1 include:amazonses.com ~all',
    });
    expect(d.records.find((r: Rec) => r.purpose === 'dmarc')).toMatchObject({
      name: '_dmarc.example.org',
      value: 'v=DMARC1; p=none; rua=mailto:dmarc@example.org;',
      required: false,
      note: expect.stringMatching(/quarantine/),
    });
    expect(d.zone).toMatch(new RegExp(`${dkim[0].name}\\.\\s+300 IN CNAME ${dkim[0].value}\\.`));
    expect(d.zone).toMatch(/mail\.example\.org\.\s+300 IN MX 10 feedback-smtp\.us-east-1\.amazonses\.com\./);
    expect(d.zone).toMatch(/_dmarc\.example\.org\.\s+300 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@example\.org;"/);
    // A pending domain does not narrow the connection yet: that would stop every other sender.
    expect((await h.call('GET', `/v1/connections/${connId}`)).json.sendDomains).toEqual([]);
    expect((await h.call('GET', '/v1/audit?action=domain.created')).json.data).toHaveLength(1);
  });

  it('publish → verify: found records match, SES verifies from DNS, and the domain can send', async () => {
    const d = (await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json;
    const refused = await h.call('POST', '/v1/emails', {
      from: 'app@example.org',
      to: 'ann@customer.test',
      subject: 's',
      text: 't',
    });
    expect(refused.status).toBe(422);
    expect(refused.json.error.code).toBe('from_not_verified'); // refused before anything is queued
    expect((await h.call('GET', '/v1/emails')).json.data).toHaveLength(0);

    publish(d.records);
    const v = (await h.call('POST', `/v1/domains/${d.id}/verify`)).json;
    expect(v.status).toBe('verified');
    expect(v.dkim.status).toBe('SUCCESS');
    expect(v.mailFrom.status).toBe('SUCCESS');
    expect(v.records.map((r: Rec) => r.check?.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect((await h.call('GET', '/v1/audit?action=domain.status_changed')).json.data[0].details).toMatchObject({
      from: 'pending',
      to: 'verified',
    });
    const ok = await h.call('POST', '/v1/emails', {
      from: 'app@example.org',
      to: 'ann@customer.test',
      subject: 's',
      text: 't',
    });
    expect(ok.status, ok.text).toBe(202);
    // Verified, the domain narrows the connection's send sessions to it.
    expect((await h.call('GET', `/v1/connections/${connId}`)).json.sendDomains).toEqual(['example.org']);
  });

  it('a pending domain leaves other verified senders alone; verified, it narrows the connection to its domains', async () => {
    h.sandbox.admin.verifyIdentity('other.org', { account: '222222222222', region: 'us-east-1' });
    const send = (from: string) =>
      h.call('POST', '/v1/emails', { from, to: 'ann@customer.test', subject: 's', text: 't' });
    const d = (await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json;
    expect((await send('app@other.org')).status).toBe(202);
    expect(d.sendDomainsChanged).toBeUndefined();
    publish(d.records);
    const verified = (await h.call('POST', `/v1/domains/${d.id}/verify`)).json;
    // The answer says that the connection is now narrowed, and what that means.
    expect(verified.sendDomainsChanged).toMatchObject({ connection: 'prod', before: [], after: ['example.org'] });
    expect(verified.sendDomainsChanged.message).toMatch(/may now send only from \*@example\.org/);
    expect((await h.call('POST', `/v1/domains/${d.id}/verify`)).json.sendDomainsChanged).toBeUndefined();
    const narrowed = await send('app@other.org');
    expect(narrowed.json.error.code).toBe('from_not_allowed');
  });

  it('a failed MAIL FROM step takes the new identity back, so adding again works', async () => {
    h.sandbox.admin.inject('ses', 'PutEmailIdentityMailFromAttributes', 'AccessDeniedException');
    const failed = await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' });
    expect(failed.json.error.code).toBe('aws_access_denied');
    expect((await h.call('GET', '/v1/domains')).json.data).toEqual([]);
    const again = await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' });
    expect(again.status, again.text).toBe(201);
    expect(again.json.mailFrom.domain).toBe('mail.example.org');
  });

  it('a failure writing the domain after SES created its identity takes the identity back, so adding again works', async () => {
    const db = h.container.store.db;
    await sql`CREATE TRIGGER domains_write_fails BEFORE INSERT ON domains BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`.execute(
      db,
    );
    const failed = await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' });
    expect(failed.status).toBe(500);
    await sql`DROP TRIGGER domains_write_fails`.execute(db);
    const audit = (await h.call('GET', '/v1/audit?action=domain.add_failed')).json.data;
    expect(audit[0]).toMatchObject({ outcome: 'error', details: { domain: 'example.org', identityRemoved: true } });
    const again = await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' });
    expect(again.status, again.text).toBe(201);
    expect(again.json).toMatchObject({ origin: 'created', mailFrom: { domain: 'mail.example.org' } });
  });

  it('when SES will not take the identity back either, Sesame notes it and the next add removes it first', async () => {
    h.sandbox.admin.inject('ses', 'PutEmailIdentityMailFromAttributes', 'AccessDeniedException');
    h.sandbox.admin.inject('ses', 'DeleteEmailIdentity', 'AccessDeniedException');
    const failed = await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' });
    expect(failed.status).toBe(502);
    expect(failed.json.error).toMatchObject({ code: 'aws_access_denied', details: { identityLeftInSes: true } });
    expect(failed.json.error.message).toMatch(
      /SES kept the identity example\.org \(removing it failed: .*\); adding the domain again removes it first\.$/,
    );
    expect((await h.call('GET', '/v1/domains')).json.data).toEqual([]);
    const again = await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' });
    expect(again.status, again.text).toBe(201);
    expect(again.json).toMatchObject({ origin: 'created', mailFrom: { domain: 'mail.example.org' } });
    // Only this connection's own leftover is taken back: elsewhere an existing identity is still refused.
    await connectedRole(h, 'staging');
    const other = await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'staging' });
    expect(other.json.error.code).toBe('identity_exists');
  });

  it('SES refusing the name or key the caller gave answers 422, not an upstream error', async () => {
    h.sandbox.admin.inject('ses', 'CreateEmailIdentity', 'BadRequestException');
    const res = await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' });
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe('aws_validation');
  });

  it('stops checking, and says why, an identity that disappeared from SES', async () => {
    const d = (await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json;
    h.sandbox.admin.inject('ses', 'GetEmailIdentity', 'NotFoundException');
    h.clock.advance(61_000);
    await h.drain();
    const v = (await h.call('GET', `/v1/domains/${d.id}`)).json;
    expect(v).toMatchObject({ status: 'failed', nextCheckAt: null });
    expect(v.problems[0].message).toMatch(/has no identity example\.org/);
    // Given up: a day later it has not been looked at again.
    h.clock.advance(86_400_000);
    await h.drain();
    expect((await h.call('GET', `/v1/domains/${d.id}`)).json).toMatchObject({ status: 'failed', nextCheckAt: null });
    expect(await h.container.repos.jobs.depth('domain_check')).toBe(0);
  });

  it('a name on two connections must be named by id; an imported own-key identity shows no DKIM value it cannot know', async () => {
    await connectedRole(h, 'staging');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await h.call('POST', '/v1/domains', {
      domain: 'example.org',
      connection: 'prod',
      byodkim: { selector: 's1', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    });
    const imported = await h.call('POST', '/v1/domains', {
      domain: 'example.org',
      connection: 'staging',
      import: true,
    });
    expect(imported.status, imported.text).toBe(201);
    expect(imported.json.dkim.origin).toBe('EXTERNAL');
    expect(imported.json.records.map((r: Rec) => r.purpose)).toEqual(['mail_from_mx', 'mail_from_spf', 'dmarc']); // SES's MAIL FROM kept, no DKIM value
    expect(imported.json.zone).not.toContain('p=;');
    const ambiguous = await h.call('GET', '/v1/domains/example.org');
    expect(ambiguous.json.error.code).toBe('conflict');
    expect((await h.call('GET', `/v1/domains/${imported.json.id}`)).json.connectionId).not.toBe(connId);
  });

  it('shows found-but-different records with both values, and flags SPF and DMARC problems', async () => {
    const d = (await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json;
    const first = d.records[0] as Rec;
    dns.add(first.name, 'CNAME', 'wrong.dkim.amazonses.com');
    dns.add('mail.example.org', 'MX', '20 feedback-smtp.us-east-1.amazonses.com');
    dns.add('mail.example.org', 'TXT', 'v=spf1 include:amazonses.com ~all');
    dns.add('mail.example.org', 'TXT', 'v=spf1 include:_spf.google.com ~all');
    dns.add('_dmarc.example.org', 'TXT', 'v=DMARC1; p=maybe');
    const v = (await h.call('POST', `/v1/domains/${d.id}/verify`)).json;
    expect(v.status).toBe('pending');
    expect(v.records[0].check).toMatchObject({ status: 'mismatch', found: ['wrong.dkim.amazonses.com'] });
    expect(v.records[1].check.status).toBe('missing');
    expect(v.records.find((r: Rec) => r.purpose === 'mail_from_mx').check).toMatchObject({
      status: 'mismatch',
      found: ['20 feedback-smtp.us-east-1.amazonses.com'],
    });
    const codes = v.problems.map((p: { code: string }) => p.code);
    expect(codes).toContain('spf_multiple');
    expect(codes.some((c: string) => c.startsWith('dmarc_'))).toBe(true);
  });

  it('refreshes pending domains in the background with backoff until verified', async () => {
    const d = (await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json;
    expect(Date.parse(d.nextCheckAt) - Date.parse(d.checkedAt)).toBe(60_000);
    publish(d.records);
    await h.drain();
    // The next look is a minute away: nothing looked yet.
    expect((await h.call('GET', `/v1/domains/${d.id}`)).json).toMatchObject({
      status: 'pending',
      checkedAt: d.checkedAt,
    });
    h.clock.advance(61_000);
    await h.drain();
    const v = (await h.call('GET', `/v1/domains/${d.id}`)).json;
    expect(v).toMatchObject({ status: 'verified', nextCheckAt: null });
    expect(v.checkedAt).not.toBe(d.checkedAt);
    expect((await h.call('GET', '/v1/audit?action=domain.status_changed')).json.data[0]).toMatchObject({
      actor: 'system',
      details: { from: 'pending', to: 'verified' },
    });
    h.clock.advance(86_400_000);
    await h.drain();
    // Verified: no more looks.
    expect((await h.call('GET', `/v1/domains/${d.id}`)).json.checkedAt).toBe(v.checkedAt);
  });

  it('backs off 1 minute doubling to 6 hours between looks, and gives up after 72 hours as SES does', async () => {
    // Days pass: the AWS SDK, which judges its credentials by the system time, must see them pass too.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    const d = (await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json;
    const gaps: number[] = [];
    let v = d;
    for (let i = 0; v.nextCheckAt && i < 40; i++) {
      gaps.push(Date.parse(v.nextCheckAt) - Date.parse(v.checkedAt));
      h.clock.set(new Date(v.nextCheckAt));
      vi.setSystemTime(Date.parse(v.nextCheckAt));
      await h.drain();
      v = (await h.call('GET', `/v1/domains/${d.id}`)).json;
      expect(v.status).toBe('pending');
    }
    expect(v.nextCheckAt).toBeNull();
    const minutes = gaps.map((g) => g / 60_000);
    expect(minutes.slice(0, 10)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 360]);
    expect(minutes.slice(9).every((m) => m === 360)).toBe(true);
    // The last look is the first past 72 hours after the add; after it, none is planned.
    expect(Date.parse(v.checkedAt) - Date.parse(d.createdAt)).toBeGreaterThan(72 * 3_600_000);
    expect(Date.parse(v.checkedAt) - Date.parse(d.createdAt)).toBeLessThanOrEqual(78 * 3_600_000);
    h.clock.advance(7 * 86_400_000);
    await h.drain();
    expect((await h.call('GET', `/v1/domains/${d.id}`)).json.checkedAt).toBe(v.checkedAt);
  });

  it('a domain whose first check failed is looked at by the background check right away', async () => {
    h.sandbox.admin.inject('ses', 'GetEmailIdentity', 'AccessDeniedException');
    const d = (await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json;
    expect(d).toMatchObject({ status: 'pending', checkedAt: null, nextCheckAt: d.createdAt });
    publish(d.records);
    await h.drain();
    expect((await h.call('GET', `/v1/domains/${d.id}`)).json).toMatchObject({ status: 'verified', nextCheckAt: null });
  });

  it('imports an identity already verified in SES, and removing it leaves the identity in SES', async () => {
    const missing = await h.call('POST', '/v1/domains', { domain: 'imported.org', connection: 'prod', import: true });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('identity_missing');
    h.sandbox.admin.verifyIdentity('imported.org', { account: '222222222222', region: 'us-east-1' });
    const exists = await h.call('POST', '/v1/domains', { domain: 'imported.org', connection: 'prod' });
    expect(exists.json.error.code).toBe('identity_exists');
    const imp = await h.call('POST', '/v1/domains', { domain: 'imported.org', connection: 'prod', import: true });
    expect(imp.status, imp.text).toBe(201);
    expect(imp.json).toMatchObject({ origin: 'imported', status: 'verified', mailFrom: { domain: null } });
    const del = await h.call('DELETE', `/v1/domains/${imp.json.id}`);
    expect(del.json).toMatchObject({ deleted: true, identityDeleted: false });
    expect((await h.call('POST', '/v1/domains', { domain: 'imported.org', connection: 'prod' })).json.error.code).toBe(
      'identity_exists',
    );
  });

  it('removes a domain it created: the SES identity goes too, and the send domains shrink', async () => {
    const d = (await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json;
    const del = await h.call('DELETE', `/v1/domains/${d.id}`);
    expect(del.json).toMatchObject({ deleted: true, identityDeleted: true });
    expect((await h.call('GET', `/v1/domains/${d.id}`)).status).toBe(404);
    expect((await h.call('GET', `/v1/connections/${connId}`)).json.sendDomains).toEqual([]);
    expect((await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).status).toBe(201); // gone from SES
  });

  it('brings its own DKIM key: one TXT record with the public key, verified once published', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const d = (
      await h.call('POST', '/v1/domains', {
        domain: 'example.org',
        connection: 'prod',
        byodkim: { selector: 'sesame1', privateKey: pem },
        mailFromSubdomain: null,
      })
    ).json;
    expect(d.dkim.origin).toBe('EXTERNAL');
    expect(d.records.map((r: Rec) => r.purpose)).toEqual(['dkim', 'dmarc']);
    expect(d.records[0]).toMatchObject({
      name: 'sesame1._domainkey.example.org',
      type: 'TXT',
      value: expect.stringMatching(/^v=DKIM1; k=rsa; p=MII/),
    });
    // The private key is nowhere: not in a response, a log line, an audit row or the stored row.
    const keyBody = pem.replace(/-----[^-]+-----|\s+/g, '');
    const row = await h.container.store.db.selectFrom('domains').selectAll().execute();
    const audit = (await h.call('GET', '/v1/audit?limit=200')).json;
    for (const place of [
      JSON.stringify(d),
      h.bodies.join(''),
      h.logs.join(''),
      JSON.stringify(audit),
      JSON.stringify(row),
    ])
      expect(place).not.toContain(keyBody.slice(40, 120));
    publish(d.records, (r) => r.purpose === 'dkim');
    expect((await h.call('POST', `/v1/domains/${d.id}/verify`)).json.status).toBe('verified');
    const bad = await h.call('POST', '/v1/domains', {
      domain: 'other.org',
      connection: 'prod',
      byodkim: { selector: 's', privateKey: 'x'.repeat(200) },
    });
    expect(bad.json.error.code).toBe('validation_failed');
  });

  it('adds a single address identity for people without a domain', async () => {
    const res = await h.call('POST', '/v1/identities/email', { email: 'Me@Personal.test', connection: 'prod' });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ name: 'me@personal.test', kind: 'email', status: 'pending', records: [] });
    h.sandbox.admin.verifyIdentity('me@personal.test', { account: '222222222222', region: 'us-east-1' });
    expect((await h.call('POST', `/v1/domains/${res.json.id}/verify`)).json.status).toBe('verified');
  });

  it('refuses bad input with stable codes and keeps workspaces apart', async () => {
    for (const body of [
      { domain: 'not a domain', connection: 'prod' },
      { domain: 'example.org' },
      { domain: 'example.org', connection: 'prod', mailFromSubdomain: 'a.b' },
      { domain: 'example.org', connection: 'prod', extra: 1 },
    ]) {
      const r = await h.call('POST', '/v1/domains', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe('validation_failed');
    }
    expect((await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'nope' })).json.error.code).toBe(
      'not_found',
    );
    const d = (await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json;
    expect((await h.call('POST', '/v1/domains', { domain: 'example.org', connection: 'prod' })).json.error.code).toBe(
      'conflict',
    );
    const other = await h.container.workspaces.create('other', 'test');
    const { key } = await h.container.apiKeys.create(other.id, 'k', 'test', { scopes: ['admin'] });
    expect((await h.call('GET', `/v1/domains/${d.id}`, undefined, { key })).status).toBe(404);
    expect((await h.call('DELETE', `/v1/domains/${d.id}`, undefined, { key })).status).toBe(404);
    expect((await h.call('GET', '/v1/domains', undefined, { key })).json.data).toEqual([]);
  });
});
