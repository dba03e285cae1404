import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import * as packet from 'dns-packet';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsServer } from '../../src/sandbox/dns-server.js';

// The checker's tests cover what node:dns sees; these look at the wire, where the checker cannot.
let dns: DnsServer;
beforeAll(async () => {
  dns = await startDnsServer();
});
afterAll(() => dns.close());
beforeEach(() => dns.clear());

type Q = { name: string; type: packet.RecordType; edns?: number };

function query(q: Q, id = 4242): Buffer {
  return packet.encode({
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED,
    questions: [{ name: q.name, type: q.type, class: 'IN' }],
    ...(q.edns
      ? {
          additionals: [
            {
              name: '.',
              type: 'OPT',
              udpPayloadSize: q.edns,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            } as packet.OptAnswer,
          ],
        }
      : {}),
  });
}

function udp(
  msg: Buffer,
  server: DnsServer = dns,
): Promise<{ raw: Buffer; packet: packet.DecodedPacket & { rcode?: string } }> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('no answer'));
    }, 10_000); // a ceiling: the server answers at once, however busy the machine
    s.on('message', (raw) => {
      clearTimeout(timer);
      s.close();
      resolve({ raw, packet: packet.decode(raw) });
    });
    s.send(msg, server.port, server.host);
  });
}

function tcp(msg: Buffer): Promise<packet.DecodedPacket & { rcode?: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(dns.port, dns.host);
    let buf = Buffer.alloc(0);
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(msg.length);
    // Sent in two writes, so the server must reassemble the frame.
    sock.write(prefix);
    sock.write(msg);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        sock.end();
        resolve(packet.decode(buf.subarray(2)));
      }
    });
    sock.on('error', reject);
  });
}

describe('the sandbox DNS server', () => {
  it('binds an ephemeral port for UDP and TCP and gives its address', () => {
    expect(dns.port).toBeGreaterThan(0);
    expect(dns.address).toBe(`127.0.0.1:${dns.port}`);
  });

  it('answers authoritatively, echoing the id and the question as asked', async () => {
    dns.set('www.example.test', 'A', ['192.0.2.1']);
    const { packet: p } = await udp(query({ name: 'WwW.Example.TEST', type: 'A' }, 777));
    expect(p).toMatchObject({ id: 777, type: 'response', flag_aa: true, flag_rd: true, rcode: 'NOERROR' });
    expect(p.questions).toEqual([{ name: 'WwW.Example.TEST', type: 'A', class: 'IN' }]);
    expect(p.answers).toEqual([
      expect.objectContaining({ name: 'WwW.Example.TEST', type: 'A', data: '192.0.2.1', ttl: 300 }),
    ]);
  });

  it('tells NXDOMAIN from NODATA, including names that only have names below them', async () => {
    dns.set('sel._domainkey.example.test', 'TXT', ['v=DKIM1; p=x']);
    expect((await udp(query({ name: 'nothing.example.test', type: 'TXT' }))).packet.rcode).toBe('NXDOMAIN');
    const nodata = (await udp(query({ name: 'sel._domainkey.example.test', type: 'MX' }))).packet;
    expect(nodata).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect((await udp(query({ name: '_domainkey.example.test', type: 'TXT' }))).packet).toMatchObject({
      rcode: 'NOERROR',
      answers: [],
    });

    const r = new Resolver({ timeout: 10_000, tries: 1 });
    r.setServers([dns.address]);
    await expect(r.resolveTxt('nothing.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(r.resolveTxt('_domainkey.example.test')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('puts the SOA of the enclosing zone in negative answers, with the negative TTL', async () => {
    dns.set('example.test', 'SOA', ['ns1.example.test hostmaster.example.test 2026010101 3600 600 604800 60']);
    const { packet: p } = await udp(query({ name: 'missing.example.test', type: 'A' }));
    expect(p.rcode).toBe('NXDOMAIN');
    expect(p.authorities).toEqual([expect.objectContaining({ name: 'example.test', type: 'SOA', ttl: 60 })]);
  });

  it("chases CNAMEs it holds: the CNAME, then the target's records", async () => {
    dns.set('alias.example.test', 'CNAME', ['middle.example.test']);
    dns.set('middle.example.test', 'CNAME', ['target.example.test']);
    dns.set('target.example.test', 'TXT', ['hello']);
    const { packet: p } = await udp(query({ name: 'alias.example.test', type: 'TXT' }));
    expect(p.answers!.map((a) => [a.name, a.type])).toEqual([
      ['alias.example.test', 'CNAME'],
      ['middle.example.test', 'CNAME'],
      ['target.example.test', 'TXT'],
    ]);
    // A question for the CNAME itself is not chased.
    expect((await udp(query({ name: 'alias.example.test', type: 'CNAME' }))).packet.answers).toHaveLength(1);
    // A dangling CNAME: the rcode describes the end of the chain (RFC 6604).
    dns.remove('target.example.test');
    const dangling = (await udp(query({ name: 'alias.example.test', type: 'TXT' }))).packet;
    expect(dangling.rcode).toBe('NXDOMAIN');
    expect(dangling.answers).toHaveLength(2);
  });

  it('stops at a CNAME loop', async () => {
    dns.set('a.example.test', 'CNAME', ['b.example.test']);
    dns.set('b.example.test', 'CNAME', ['a.example.test']);
    const { packet: p } = await udp(query({ name: 'a.example.test', type: 'A' }));
    expect(p.rcode).toBe('NOERROR');
    expect(p.answers).toHaveLength(2);
  });

  it('sets TC when the answer exceeds 512 bytes over UDP, honours a larger EDNS size, and answers whole over TCP', async () => {
    for (let i = 0; i < 12; i++) dns.add('big.example.test', 'TXT', `record ${i} `.padEnd(60, 'x'));
    const small = await udp(query({ name: 'big.example.test', type: 'TXT' }));
    expect(small.packet).toMatchObject({ flag_tc: true, answers: [] });
    expect(small.raw.length).toBeLessThanOrEqual(512);

    const edns = await udp(query({ name: 'big.example.test', type: 'TXT', edns: 1232 }));
    expect(edns.packet.flag_tc).toBe(false);
    expect(edns.packet.answers).toHaveLength(12);
    expect(edns.packet.additionals).toEqual([expect.objectContaining({ type: 'OPT' })]);

    const viaTcp = await tcp(query({ name: 'big.example.test', type: 'TXT' }));
    expect(viaTcp.flag_tc).toBe(false);
    expect(viaTcp.answers).toHaveLength(12);
  });

  it('fails a name on request: SERVFAIL, REFUSED or silence', async () => {
    dns.set('flaky.example.test', 'A', ['192.0.2.2']);
    dns.fail('FLAKY.example.test');
    expect((await udp(query({ name: 'flaky.example.test', type: 'A' }))).packet).toMatchObject({
      rcode: 'SERVFAIL',
      flag_aa: false,
    });
    dns.fail('flaky.example.test', 'refused');
    expect((await udp(query({ name: 'flaky.example.test', type: 'A' }))).packet.rcode).toBe('REFUSED');
    dns.fail('flaky.example.test', 'drop');
    await expect(udp(query({ name: 'flaky.example.test', type: 'A' }))).rejects.toThrow('no answer');
    dns.unfail('flaky.example.test');
    expect((await udp(query({ name: 'flaky.example.test', type: 'A' }))).packet.rcode).toBe('NOERROR');
  });

  it('answers FORMERR to a malformed query, and ignores responses', async () => {
    const junk = Buffer.alloc(14);
    junk.writeUInt16BE(99, 0);
    junk.writeUInt16BE(1, 4); // claims a question that is not there
    expect((await udp(junk)).packet).toMatchObject({ id: 99, rcode: 'FORMERR' });
    const reply = packet.encode({ type: 'response', id: 5, questions: [{ name: 'x.test', type: 'A' }] });
    await expect(udp(reply)).rejects.toThrow('no answer');
  });

  it('lists, replaces and removes records; refuses a CNAME beside other data', () => {
    dns.set('Example.test', 'MX', ['10 mx1.example.test.', '20 mx2.example.test']);
    dns.add('example.test', 'MX', '10 MX1.example.test'); // already there: a set, not a list
    dns.add('example.test', 'TXT', ['v=spf1', ' -all']);
    dns.set('example.test', 'AAAA', ['2001:db8::1']);
    dns.set('example.test', 'NS', ['ns1.example.test']);
    expect(dns.records()).toEqual([
      { name: 'example.test', type: 'AAAA', value: '2001:db8::1', ttl: 300 },
      { name: 'example.test', type: 'MX', value: '10 mx1.example.test', ttl: 300 },
      { name: 'example.test', type: 'MX', value: '20 mx2.example.test', ttl: 300 },
      { name: 'example.test', type: 'NS', value: 'ns1.example.test', ttl: 300 },
      { name: 'example.test', type: 'TXT', value: ['v=spf1', ' -all'], ttl: 300 },
    ]);
    expect(() => dns.add('example.test', 'CNAME', 'elsewhere.test')).toThrow(/CNAME record and other records/);
    expect(() => dns.add('example.test', 'MX', 'mx3.example.test')).toThrow(/Invalid MX value/);
    expect(() => dns.add('example.test', 'A', '2001:db8::1')).toThrow(/Invalid A value/);
    dns.remove('example.test', 'MX');
    expect(dns.records().map((r) => r.type)).toEqual(['AAAA', 'NS', 'TXT']);
    dns.set('example.test', 'TXT', []);
    dns.remove('EXAMPLE.test');
    expect(dns.records()).toEqual([]);
  });

  it('with zones, refuses names outside them', async () => {
    const zoned = await startDnsServer({ zones: ['example.test'] });
    try {
      zoned.set('www.example.test', 'A', ['192.0.2.3']);
      expect(() => zoned.set('www.other.test', 'A', ['192.0.2.3'])).toThrow(/outside the zones/);
      expect((await udp(query({ name: 'www.example.test', type: 'A' }), zoned)).packet.rcode).toBe('NOERROR');
      expect((await udp(query({ name: 'nope.example.test', type: 'A' }), zoned)).packet.rcode).toBe('NXDOMAIN');
      expect((await udp(query({ name: 'www.other.test', type: 'A' }), zoned)).packet).toMatchObject({
        rcode: 'REFUSED',
        flag_aa: false,
      });
    } finally {
      await zoned.close();
    }
  });
});
