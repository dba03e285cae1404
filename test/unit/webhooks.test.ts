import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { classifyAddress } from '../../src/modules/webhooks/address.js';
import { retryDelayMs } from '../../src/modules/webhooks/delivery.js';
import { sign, verify } from '../../src/modules/webhooks/signature.js';
import { pinnedLookup, postWebhook } from '../../src/modules/webhooks/transport.js';

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['93.184.215.14', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['192.0.2.1', 'documentation'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['2001:db8::1', 'documentation'],
    ['::ffff:127.0.0.1', 'loopback (IPv4-mapped)'],
    ['::ffff:7f00:1', 'loopback (IPv4-mapped)'],
    ['::ffff:10.0.0.1', 'private (IPv4-mapped)'],
    ['::127.0.0.1', 'loopback (IPv4-compatible)'],
    ['64:ff9b::a00:1', 'private (NAT64)'],
    ['2002:c0a8:0101::1', 'private (6to4)'],
    ['169.254.169.254', 'cloud metadata'],
    ['169.254.170.2', 'cloud metadata'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['::ffff:169.254.169.254', 'cloud metadata (IPv4-mapped)'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
  ])('%s → %s', (address, expected) => {
    const c = classifyAddress(address);
    expect(c.kind === 'public' ? 'public' : c.range).toBe(expected);
  });

  it('puts metadata, unspecified, multicast and reserved addresses beyond any allowance', () => {
    for (const a of ['169.254.169.254', 'fd00:ec2::254', '0.0.0.0', '::', '224.0.0.1', '240.0.0.1'])
      expect(classifyAddress(a).kind, a).toBe('never');
    for (const a of ['127.0.0.1', '10.0.0.1', '::1', 'fd12::1', '100.64.0.1'])
      expect(classifyAddress(a).kind, a).toBe('private');
    // The edges of 172.16.0.0/12 and 100.64.0.0/10.
    for (const a of ['172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0'])
      expect(classifyAddress(a).kind, a).toBe('public');
  });

  it('throws on something that is not an IP address', () => {
    expect(() => classifyAddress('localhost')).toThrow(/not an IP/);
  });
});

describe('pinnedLookup', () => {
  const addresses = [
    { address: '93.184.215.14', family: 4 as const },
    { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 as const },
  ];
  const call = (options: object) =>
    new Promise<unknown[]>((resolve) =>
      pinnedLookup(addresses)('evil.test', options as never, (...args: unknown[]) => resolve(args)),
    );

  it('answers only with the checked addresses, one or all, by family', async () => {
    expect(await call({})).toEqual([null, '93.184.215.14', 4]);
    expect(await call({ family: 6 })).toEqual([null, addresses[1]!.address, 6]);
    expect(await call({ all: true })).toEqual([null, addresses]);
    expect(await call({ all: true, family: 4 })).toEqual([null, [addresses[0]]]);
  });
});

describe('retryDelayMs', () => {
  it('doubles from 30 s to a 2 h cap, with up to half of it random', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, () => 1))).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect(retryDelayMs(1, () => 0)).toBe(15_000);
    expect(retryDelayMs(30, () => 1)).toBe(7_200_000);
    expect(retryDelayMs(30, () => 0)).toBe(3_600_000);
  });
});

describe('signature', () => {
  it('verifies within the tolerance only, and accepts one of several v1 values', () => {
    const body = '{"id":"evt_1"}';
    const s = sign('whsec_test', 1_700_000_000, body);
    expect(s).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verify('whsec_test', { body, timestamp: '1700000000', signature: s, nowSeconds: 1_700_000_100 })).toBe(true);
    expect(verify('whsec_test', { body, timestamp: '1700000000', signature: s, nowSeconds: 1_700_000_400 })).toBe(
      false,
    );
    expect(verify('whsec_other', { body, timestamp: '1700000000', signature: s, nowSeconds: 1_700_000_000 })).toBe(
      false,
    );
    expect(
      verify('whsec_test', {
        body,
        timestamp: '1700000000',
        signature: `v1=${'0'.repeat(64)}, ${s}`,
        nowSeconds: 1_700_000_000,
      }),
    ).toBe(true);
  });
});

describe('postWebhook', () => {
  it('gives up on a receiver that does not answer once the timeout has passed on its clock', async () => {
    let asked!: () => void;
    const arrived = new Promise<void>((r) => (asked = r));
    const silent = createServer(() => asked());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const clock = manualClock();
      const result = postWebhook(
        { url: new URL(`http://127.0.0.1:${port}/hook`), addresses: [{ address: '127.0.0.1', family: 4 }] },
        '{}',
        {},
        { timeoutMs: 10_000, maxResponseBytes: 1024, clock },
      );
      await arrived;
      clock.advance(9_999);
      expect(clock.pending()).toBe(1);
      clock.advance(1);
      expect(await result).toEqual({ statusCode: null, error: 'timed out after 10000 ms', excerpt: null });
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('leaves no timer behind once the receiver has answered', async () => {
    const server = createServer((_req, res) => res.writeHead(204).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const clock = manualClock();
      const result = await postWebhook(
        { url: new URL(`http://127.0.0.1:${port}/hook`), addresses: [{ address: '127.0.0.1', family: 4 }] },
        '{}',
        {},
        { timeoutMs: 10_000, maxResponseBytes: 1024, clock },
      );
      expect(result).toEqual({ statusCode: 204, error: null, excerpt: null });
      expect(clock.pending()).toBe(0);
    } finally {
      server.close();
    }
  });
});
