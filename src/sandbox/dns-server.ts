import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv4, isIPv6, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import * as packet from 'dns-packet';
import { SandboxError } from './errors.js';

/**
 * A small authoritative DNS server for the local AWS sandbox. The offline mode publishes the
 * records a sending domain needs here (DKIM CNAMEs, MAIL FROM MX and SPF, DMARC), and tests point
 * Sesame's DNS checker at it (SESAME_DNS_SERVERS=127.0.0.1:PORT) instead of the internet.
 *
 * Authority: without `zones` the server is authoritative for every name, so a name that holds no
 * record and has none below it is NXDOMAIN. With `zones`, a name outside all of them is REFUSED,
 * which is what a real authoritative server answers for a zone it does not serve.
 *
 * What it answers like a real server, because the checker's verdicts depend on it:
 * - NXDOMAIN (no such name) versus NOERROR with no answer (NODATA: the name has other types, or
 *   names below it, an "empty non-terminal" like `_domainkey.example.com`);
 * - CNAME chasing inside the data it holds: the answer carries the CNAME, then the target's records;
 * - names are case-insensitive, and the question is echoed as asked (resolvers that randomise case
 *   compare it);
 * - a UDP answer larger than the client's limit (512 bytes, or the EDNS size it advertised) is sent
 *   empty with the TC bit, and the same port answers over TCP, where resolvers then retry.
 *
 * Not supported, because mail records never need them: wildcards, DNSSEC, zone transfers,
 * delegation (NS records are served as data, never as referrals), name compression.
 */

export type DnsRecordType = 'A' | 'AAAA' | 'CNAME' | 'MX' | 'TXT' | 'NS' | 'SOA';

/**
 * A value in presentation form: `A` "192.0.2.1"; `AAAA` "2001:db8::1"; `CNAME`/`NS` a host name;
 * `MX` "10 mx.example.com"; `SOA` "mname rname [serial refresh retry expire minimum]";
 * `TXT` a string (one record, split into 255-byte strings when longer) or an array of strings
 * (one record made of those strings, each longer one split too).
 */
export type DnsRecordValue = string | readonly string[];

export interface DnsRecordEntry {
  /** Lower case, no trailing dot. */
  name: string;
  type: DnsRecordType;
  value: DnsRecordValue;
  ttl: number;
}

/** How a failing name is answered: SERVFAIL, REFUSED, or not at all (the client times out). */
export type DnsFailureMode = 'servfail' | 'refused' | 'drop';

export interface DnsServerOptions {
  /** An IP address to bind (default 127.0.0.1). */
  host?: string;
  /** 0 (default) picks a free port; UDP and TCP share it. */
  port?: number;
  /** Zones served; names outside them are REFUSED. Omitted: authoritative for every name. */
  zones?: readonly string[];
  /** TTL of records added without one (default 300 s). */
  ttl?: number;
  /** One line per query, e.g. `[dns] udp TXT example.com → NOERROR (1 answer)`. */
  log?: (line: string) => void;
}

export interface DnsServer {
  readonly host: string;
  readonly port: number;
  /** `host:port` (`[host]:port` for IPv6), the form SESAME_DNS_SERVERS and Resolver#setServers take. */
  readonly address: string;
  /** Replaces every record of this type at this name. An empty list removes them. */
  set(name: string, type: DnsRecordType, values: readonly DnsRecordValue[], opts?: { ttl?: number }): void;
  /** Adds one record (an identical one already there is replaced, as DNS has sets, not lists). */
  add(name: string, type: DnsRecordType, value: DnsRecordValue, opts?: { ttl?: number }): void;
  /** Removes the records of this type at this name, or all of the name's records. */
  remove(name: string, type?: DnsRecordType): void;
  /** Every record held, sorted by name then type. */
  records(): DnsRecordEntry[];
  /** Removes every record and every failure. */
  clear(): void;
  /** Answers every query for this exact name (also when reached through a CNAME) with a failure. */
  fail(name: string, mode?: DnsFailureMode): void;
  /** Undoes fail(name). */
  unfail(name: string): void;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type RcodeName = keyof typeof RCODE;
const FLAG_RD = packet.RECURSION_DESIRED;
const OPCODE_MASK = 0xf << 11;
/** RFC 1035 §4.2.1: the UDP limit when the client advertises no EDNS size. */
const CLASSIC_UDP_LIMIT = 512;
/** Never send more than this over UDP, whatever a client advertises (the DNS flag day 2020 value is 1232). */
const MAX_UDP_PAYLOAD = 4096;
const OUR_EDNS_SIZE = 1232;
/** A CNAME chain longer than this is answered SERVFAIL, as recursive resolvers give up too. */
const MAX_CHAIN = 8;
const TCP_IDLE_MS = 10_000;
const TXT_CHUNK = 255;

interface StoredRecord {
  value: DnsRecordValue;
  ttl: number;
  /** What dns-packet encodes. */
  data: unknown;
  /** Identity within the RRset. */
  key: string;
}

export async function startDnsServer(opts: DnsServerOptions = {}): Promise<DnsServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isIPv4(host) && !isIPv6(host))
    throw new SandboxError('InvalidParameterValue', `DNS server host must be an IP address, got "${host}".`);
  const defaultTtl = opts.ttl ?? 300;
  const zones = opts.zones?.map((z) => normalizeName(z));
  const data = new Map<string, Map<DnsRecordType, StoredRecord[]>>();
  const failures = new Map<string, DnsFailureMode>();

  const inZone = (name: string): boolean =>
    zones === undefined || zones.some((z) => z === '' || name === z || name.endsWith(`.${z}`));
  /** A name exists when it holds records or has names below it (an empty non-terminal). */
  const exists = (name: string): boolean => {
    if (data.has(name)) return true;
    const suffix = `.${name}`;
    for (const n of data.keys()) if (n.endsWith(suffix)) return true;
    return false;
  };

  function soaFor(name: string): packet.Answer | undefined {
    for (let n: string | undefined = name; n !== undefined; n = parentOf(n)) {
      const soa = data.get(n)?.get('SOA')?.[0];
      if (soa) {
        const d = soa.data as packet.SoaData;
        // RFC 2308 §3: a negative answer is cached for min(SOA TTL, SOA MINIMUM).
        return { name: n, type: 'SOA', ttl: Math.min(soa.ttl, d.minimum ?? soa.ttl), data: d };
      }
    }
    return undefined;
  }

  const rr = (owner: string, type: DnsRecordType, r: StoredRecord): packet.Answer =>
    ({ name: owner, type, ttl: r.ttl, data: r.data }) as packet.Answer;

  /** The answer to one question, or 'drop' to stay silent. */
  function lookup(
    qname: string,
    qtype: string,
  ): { rcode: RcodeName; answers: packet.Answer[]; authorities: packet.Answer[]; aa: boolean } | 'drop' {
    const answers: packet.Answer[] = [];
    let current = normalizeLenient(qname);
    let owner = qname;
    const seen = new Set<string>();
    for (let hop = 0; hop <= MAX_CHAIN; hop++) {
      const failure = failures.get(current);
      if (failure === 'drop') return 'drop';
      if (failure)
        return { rcode: failure === 'refused' ? 'REFUSED' : 'SERVFAIL', answers: [], authorities: [], aa: false };
      if (!inZone(current)) {
        // The first name outside our zones is refused; a CNAME leading out of them is returned as is, for the resolver to chase.
        return hop === 0
          ? { rcode: 'REFUSED', answers: [], authorities: [], aa: false }
          : { rcode: 'NOERROR', answers, authorities: [], aa: true };
      }
      seen.add(current);
      const node = data.get(current);
      const cname = node?.get('CNAME')?.[0];
      if (cname && qtype !== 'CNAME' && qtype !== 'ANY') {
        answers.push(rr(owner, 'CNAME', cname));
        const target = cname.data as string;
        // A loop ends where it closes: the resolver sees the chain and gives up on its own.
        if (seen.has(target)) return { rcode: 'NOERROR', answers, authorities: [], aa: true };
        current = target;
        owner = target;
        continue;
      }
      if (node && qtype === 'ANY') {
        for (const [type, set] of node) for (const r of set) answers.push(rr(owner, type, r));
        return { rcode: 'NOERROR', answers, authorities: [], aa: true };
      }
      const set = node?.get(qtype as DnsRecordType);
      if (set && set.length > 0) {
        for (const r of set) answers.push(rr(owner, qtype as DnsRecordType, r));
        return { rcode: 'NOERROR', answers, authorities: [], aa: true };
      }
      const soa = soaFor(current);
      // RFC 6604: after a CNAME, the rcode describes the last name of the chain.
      return { rcode: exists(current) ? 'NOERROR' : 'NXDOMAIN', answers, authorities: soa ? [soa] : [], aa: true };
    }
    return { rcode: 'SERVFAIL', answers: [], authorities: [], aa: false };
  }

  function respond(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    let query: packet.DecodedPacket;
    try {
      query = packet.decode(msg);
    } catch {
      if (msg.length < 12 || (msg.readUInt16BE(2) & 0x8000) !== 0) return undefined;
      return packet.encode({
        type: 'response',
        id: msg.readUInt16BE(0),
        flags: RCODE.FORMERR,
        questions: [],
        answers: [],
      });
    }
    if (query.type === 'response') return undefined; // never answer an answer: two servers could loop
    const opt = query.additionals?.find((a): a is packet.OptAnswer => a.type === 'OPT');
    const base = {
      type: 'response' as const,
      id: query.id ?? 0,
      questions: query.questions ?? [],
      additionals: opt
        ? [
            {
              name: '.',
              type: 'OPT',
              udpPayloadSize: OUR_EDNS_SIZE,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            } as packet.OptAnswer,
          ]
        : [],
    };
    const echoFlags = (query.flags ?? 0) & (FLAG_RD | OPCODE_MASK);
    const question = query.questions?.[0];
    let reply: packet.Packet;
    let summary: string;
    if ((query.flags ?? 0) & OPCODE_MASK) {
      reply = { ...base, flags: echoFlags | RCODE.NOTIMP };
      summary = 'NOTIMP (opcode)';
    } else if (!question || query.questions!.length !== 1) {
      reply = { ...base, flags: echoFlags | RCODE.FORMERR };
      summary = 'FORMERR (one question per query)';
    } else if ((question.class ?? 'IN') !== 'IN' && question.class !== 'ANY') {
      reply = { ...base, flags: echoFlags | RCODE.REFUSED };
      summary = `REFUSED (class ${question.class})`;
    } else {
      const res = lookup(question.name, question.type);
      if (res === 'drop') {
        opts.log?.(`[dns] ${transport} ${question.type} ${question.name} → dropped (fail)`);
        return undefined;
      }
      reply = {
        ...base,
        flags: echoFlags | (res.aa ? packet.AUTHORITATIVE_ANSWER : 0) | RCODE[res.rcode],
        answers: res.answers,
        authorities: res.authorities,
      };
      summary = `${res.rcode} (${res.answers.length} answer${res.answers.length === 1 ? '' : 's'})`;
    }
    let buf = packet.encode(reply);
    if (transport === 'udp') {
      const limit = opt
        ? Math.min(Math.max(opt.udpPayloadSize, CLASSIC_UDP_LIMIT), MAX_UDP_PAYLOAD)
        : CLASSIC_UDP_LIMIT;
      if (buf.length > limit) {
        // RFC 2181 §9: an answer that does not fit is sent with TC set; the client retries over TCP.
        buf = packet.encode({
          ...reply,
          flags: (reply.flags ?? 0) | packet.TRUNCATED_RESPONSE,
          answers: [],
          authorities: [],
        });
        summary += `, truncated over ${limit} bytes`;
      }
    }
    opts.log?.(`[dns] ${transport} ${question?.type ?? '-'} ${question?.name ?? '-'} → ${summary}`);
    return buf;
  }

  const { udp, tcp, port } = await bind(host, opts.port ?? 0, respond);
  const sockets = new Set<TcpSocket>();
  tcp.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    let pending = Buffer.alloc(0);
    // RFC 1035 §4.2.2: over TCP each message is preceded by its two-byte length; a connection may carry several.
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const msg = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        const out = respond(msg, 'tcp');
        if (out) {
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(out.length);
          socket.write(Buffer.concat([prefix, out]));
        }
      }
    });
  });

  function store(
    name: string,
    type: DnsRecordType,
    values: readonly DnsRecordValue[],
    ttl: number,
    replace: boolean,
  ): void {
    const n = normalizeName(name);
    if (!inZone(n))
      throw new SandboxError(
        'InvalidParameterValue',
        `${n} is outside the zones this DNS server serves (${zones!.join(', ')}).`,
      );
    const parsed = values.map((v) => parseValue(type, v, ttl));
    const node = data.get(n) ?? new Map<DnsRecordType, StoredRecord[]>();
    const next = replace ? [] : [...(node.get(type) ?? [])];
    for (const p of parsed) {
      const i = next.findIndex((r) => r.key === p.key);
      if (i >= 0) next[i] = p;
      else next.push(p);
    }
    // RFC 1034 §3.6.2: a name with a CNAME has no other data, and at most one CNAME.
    if (type === 'CNAME' && next.length > 1)
      throw new SandboxError('InvalidParameterValue', `${n} can have only one CNAME record.`);
    const others = [...node.keys()].filter((t) => t !== type && (node.get(t)?.length ?? 0) > 0);
    if (
      next.length > 0 &&
      ((type === 'CNAME' && others.length > 0) || (type !== 'CNAME' && others.includes('CNAME')))
    ) {
      throw new SandboxError(
        'InvalidParameterValue',
        `${n} cannot have a CNAME record and other records (it has ${type === 'CNAME' ? others.join(', ') : 'CNAME'}).`,
      );
    }
    if (next.length > 0) node.set(type, next);
    else node.delete(type);
    if (node.size > 0) data.set(n, node);
    else data.delete(n);
  }

  let closed = false;
  return {
    host,
    port,
    address: isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`,
    set(name, type, values, o = {}) {
      store(name, type, values, o.ttl ?? defaultTtl, true);
    },
    add(name, type, value, o = {}) {
      store(name, type, [value], o.ttl ?? defaultTtl, false);
    },
    remove(name, type) {
      const n = normalizeName(name);
      if (type === undefined) data.delete(n);
      else {
        const node = data.get(n);
        node?.delete(type);
        if (node && node.size === 0) data.delete(n);
      }
    },
    records() {
      const out: DnsRecordEntry[] = [];
      for (const name of [...data.keys()].sort()) {
        const node = data.get(name)!;
        for (const type of [...node.keys()].sort())
          for (const r of node.get(type)!) out.push({ name, type, value: r.value, ttl: r.ttl });
      }
      return out;
    },
    clear() {
      data.clear();
      failures.clear();
    },
    fail(name, mode = 'servfail') {
      failures.set(normalizeName(name), mode);
    },
    unfail(name) {
      failures.delete(normalizeName(name));
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}

/** Binds UDP and TCP on one port; with port 0, retries when the port UDP got is taken for TCP. */
async function bind(
  host: string,
  port: number,
  respond: (msg: Buffer, transport: 'udp') => Buffer | undefined,
): Promise<{ udp: UdpSocket; tcp: TcpServer; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const udp = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    udp.on('message', (msg, rinfo) => {
      const out = respond(msg, 'udp');
      if (out) udp.send(out, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    // A send error (e.g. the client went away) must not crash the sandbox.
    udp.on('error', () => undefined);
    const bound = udp.address().port;
    const tcp = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(bound, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      return { udp, tcp, port: bound };
    } catch (e) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (port !== 0 || attempt >= 10 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    }
  }
}

function parentOf(name: string): string | undefined {
  if (name === '') return undefined;
  const i = name.indexOf('.');
  return i < 0 ? '' : name.slice(i + 1);
}

/** For questions: never throws, since a bad name is simply not found. */
function normalizeLenient(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** For data: the same normal form, and a name DNS can carry (labels 1-63 bytes, 253 in all). */
export function normalizeName(name: string): string {
  const n = normalizeLenient(name.trim());
  if (n === '') return n;
  const labels = n.split('.');
  if (n.length > 253 || labels.some((l) => l.length === 0 || Buffer.byteLength(l) > 63 || /\s/.test(l))) {
    throw new SandboxError('InvalidParameterValue', `"${name}" is not a valid DNS name.`);
  }
  return n;
}

/** Splits a TXT string into character-strings of at most 255 bytes, never inside a UTF-8 character. */
export function splitTxt(value: string): Buffer[] {
  const whole = Buffer.from(value, 'utf8');
  if (whole.length <= TXT_CHUNK) return [whole];
  const out: Buffer[] = [];
  let chunk: string[] = [];
  let size = 0;
  for (const ch of value) {
    const len = Buffer.byteLength(ch);
    if (size + len > TXT_CHUNK) {
      out.push(Buffer.from(chunk.join(''), 'utf8'));
      chunk = [];
      size = 0;
    }
    chunk.push(ch);
    size += len;
  }
  if (chunk.length > 0) out.push(Buffer.from(chunk.join(''), 'utf8'));
  return out;
}

function invalid(type: DnsRecordType, value: DnsRecordValue, why: string): SandboxError {
  return new SandboxError('InvalidParameterValue', `Invalid ${type} value ${JSON.stringify(value)}: ${why}.`);
}

function parseValue(type: DnsRecordType, value: DnsRecordValue, ttl: number): StoredRecord {
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2 ** 31 - 1)
    throw invalid(type, value, 'TTL must be 0 to 2147483647 seconds');
  if (type === 'TXT') {
    const strings = typeof value === 'string' ? [value] : [...value];
    if (strings.length === 0) throw invalid(type, value, 'a TXT record has at least one string');
    const chunks = strings.flatMap(splitTxt);
    if (chunks.reduce((n, c) => n + c.length + 1, 0) > 65_535)
      throw invalid(type, value, 'longer than a DNS record can be');
    return { value: typeof value === 'string' ? value : [...value], ttl, data: chunks, key: JSON.stringify(strings) };
  }
  if (typeof value !== 'string') throw invalid(type, value, 'only TXT takes a list of strings');
  const v = value.trim();
  switch (type) {
    case 'A':
      if (!isIPv4(v)) throw invalid(type, value, 'not an IPv4 address');
      return { value: v, ttl, data: v, key: v };
    case 'AAAA':
      if (!isIPv6(v)) throw invalid(type, value, 'not an IPv6 address');
      return { value: v, ttl, data: v, key: v.toLowerCase() };
    case 'CNAME':
    case 'NS': {
      const n = normalizeName(v);
      if (n === '') throw invalid(type, value, 'a host name is required');
      return { value: n, ttl, data: n, key: n };
    }
    case 'MX': {
      const m = /^(\d{1,5})\s+(\S+)$/.exec(v);
      if (!m || Number(m[1]) > 65_535) throw invalid(type, value, 'expected "<preference 0-65535> <exchange>"');
      const exchange = m[2] === '.' ? '' : normalizeName(m[2]!); // "0 ." is a null MX (RFC 7505)
      const preference = Number(m[1]);
      return {
        value: `${preference} ${exchange || '.'}`,
        ttl,
        data: { preference, exchange },
        key: `${preference} ${exchange}`,
      };
    }
    case 'SOA': {
      const f = v.split(/\s+/);
      if (f.length !== 2 && f.length !== 7)
        throw invalid(type, value, 'expected "mname rname [serial refresh retry expire minimum]"');
      const nums = f.slice(2).map(Number);
      if (nums.some((x) => !Number.isInteger(x) || x < 0 || x > 2 ** 32 - 1))
        throw invalid(type, value, 'the timers are whole numbers');
      const [serial = 1, refresh = 3600, retry = 600, expire = 604_800, minimum = 300] = nums;
      const d: packet.SoaData = {
        mname: normalizeName(f[0]!),
        rname: normalizeName(f[1]!),
        serial,
        refresh,
        retry,
        expire,
        minimum,
      };
      return {
        value: `${d.mname} ${d.rname} ${serial} ${refresh} ${retry} ${expire} ${minimum}`,
        ttl,
        data: d,
        key: 'SOA',
      };
    }
  }
}
