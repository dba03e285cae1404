import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

const { IPv4, IPv6 } = ipaddr;
type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

/**
 * Which addresses a webhook may reach. Sesame runs next to its own AWS credentials and private
 * services, so an endpoint someone registers must not turn it into a proxy into that network.
 *
 * - `public`: anything routable on the internet.
 * - `private`: loopback, RFC 1918, link-local, unique-local, CGNAT, documentation and other
 *   non-global ranges. Reachable only when the operator and the webhook both allow it.
 * - `never`: cloud metadata endpoints (they hand out credentials), unspecified, multicast,
 *   broadcast and reserved addresses. No setting opens these: none is a webhook receiver.
 */
export type AddressClass = { kind: 'public' } | { kind: 'private' | 'never'; range: string };

interface Range {
  net: [IPv4 | IPv6, number];
  kind: 'private' | 'never';
  range: string;
}

const v4 = (cidr: string, kind: Range['kind'], range: string): Range => ({ net: IPv4.parseCIDR(cidr), kind, range });
const v6 = (cidr: string, kind: Range['kind'], range: string): Range => ({ net: IPv6.parseCIDR(cidr), kind, range });

// Most specific first: the metadata hosts sit inside link-local and CGNAT.
const V4_RANGES: Range[] = [
  v4('169.254.169.254/32', 'never', 'cloud metadata'),
  v4('169.254.170.2/32', 'never', 'cloud metadata'), // ECS task credentials
  v4('169.254.170.23/32', 'never', 'cloud metadata'), // EKS Pod Identity
  v4('100.100.100.200/32', 'never', 'cloud metadata'), // Alibaba Cloud
  v4('0.0.0.0/8', 'never', 'unspecified'),
  v4('224.0.0.0/4', 'never', 'multicast'),
  v4('255.255.255.255/32', 'never', 'broadcast'),
  v4('240.0.0.0/4', 'never', 'reserved'),
  v4('127.0.0.0/8', 'private', 'loopback'),
  v4('10.0.0.0/8', 'private', 'private'),
  v4('172.16.0.0/12', 'private', 'private'),
  v4('192.168.0.0/16', 'private', 'private'),
  v4('169.254.0.0/16', 'private', 'link-local'),
  v4('100.64.0.0/10', 'private', 'carrier-grade NAT'),
  v4('192.0.0.0/24', 'private', 'IETF protocol assignments'),
  v4('192.0.2.0/24', 'private', 'documentation'),
  v4('198.51.100.0/24', 'private', 'documentation'),
  v4('203.0.113.0/24', 'private', 'documentation'),
  v4('198.18.0.0/15', 'private', 'benchmarking'),
  v4('192.88.99.0/24', 'private', '6to4 relay'),
];

const V6_RANGES: Range[] = [
  v6('fd00:ec2::254/128', 'never', 'cloud metadata'),
  v6('fd00:ec2::23/128', 'never', 'cloud metadata'), // EKS Pod Identity over IPv6
  v6('::/128', 'never', 'unspecified'),
  v6('ff00::/8', 'never', 'multicast'),
  v6('::1/128', 'private', 'loopback'),
  v6('fe80::/10', 'private', 'link-local'),
  v6('fec0::/10', 'private', 'site-local'),
  v6('fc00::/7', 'private', 'unique-local'),
  v6('64:ff9b:1::/48', 'private', 'local-use NAT64'),
  v6('100::/64', 'private', 'discard-only'),
  v6('2001:db8::/32', 'private', 'documentation'),
  // Teredo hides the client's IPv4 address (inverted) in its suffix; not worth decoding for a webhook.
  v6('2001::/32', 'private', 'Teredo'),
];

/**
 * IPv6 forms that carry an IPv4 address: judged by that address, or `[::ffff:127.0.0.1]` (and
 * friends) would reach loopback while looking like IPv6. [prefix, prefix bits, offset of the IPv4 bytes]
 */
const V4_IN_V6: Array<[Range, number]> = [
  [v6('::ffff:0:0/96', 'private', 'IPv4-mapped'), 12],
  [v6('::/96', 'private', 'IPv4-compatible'), 12],
  [v6('64:ff9b::/96', 'private', 'NAT64'), 12],
  [v6('2002::/16', 'private', '6to4'), 2],
];

/** Classify one IP address (IPv4 dotted quad or IPv6, optionally with a %zone). Not an IP → throws. */
export function classifyAddress(address: string): AddressClass {
  const ip = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(ip);
  if (family === 4) return match(IPv4.parse(ip), V4_RANGES);
  if (family !== 6) throw new Error(`not an IP address: ${address}`);
  // ipaddr.js reads the deprecated `::1.2.3.4` as `::ffff:1.2.3.4`; the URL parser's canonical form
  // (hexadecimal groups) keeps an IPv4-compatible address what it is.
  const addr = IPv6.parse(new URL(`http://[${ip}]/`).hostname.slice(1, -1));
  // ::1 and :: lie inside the IPv4-compatible prefix; their own entries decide.
  const direct = match(addr, V6_RANGES);
  if (direct.kind !== 'public') return direct;
  for (const [prefix, offset] of V4_IN_V6) {
    if (addr.match(prefix.net)) {
      const inner = match(ipaddr.fromByteArray(addr.toByteArray().slice(offset, offset + 4)), V4_RANGES);
      return inner.kind === 'public' ? inner : { kind: inner.kind, range: `${inner.range} (${prefix.range})` };
    }
  }
  return direct;
}

function match(addr: IPv4 | IPv6, ranges: Range[]): AddressClass {
  for (const r of ranges) if (addr.match(r.net)) return { kind: r.kind, range: r.range };
  return { kind: 'public' };
}
