import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { clientKey } from '../../src/modules/api-keys/failure-limit.js';
import { type Harness, startHarness } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const BAD = `ses_AAAAAAAA_${'B'.repeat(40)}`;

/** A request from a given client address (the socket's), optionally through a proxy header. */
async function from(address: string, key: string | null, headers: Record<string, string> = {}) {
  const res = await h.app.inject({
    method: 'GET',
    url: '/v1/workspace',
    remoteAddress: address,
    headers: { ...headers, ...(key ? { authorization: `Bearer ${key}` } : {}) },
  });
  return { status: res.statusCode, json: res.json(), retryAfter: res.headers['retry-after'] };
}

/** Key lookups that reached the database. */
function countLookups(): { readonly n: number } {
  const spy = vi.spyOn(h.container.apiKeys, 'authenticate');
  return {
    get n() {
      return spy.mock.calls.length;
    },
  };
}

describe('failed API authentications are limited per client address', () => {
  it('answers 429 with Retry-After once an address has failed 20 times in a minute, before any key lookup; other addresses and the window’s end are unaffected', async () => {
    h = await startHarness();
    const lookups = countLookups();
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await from('203.0.113.7', i % 2 ? BAD : null)).status);
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
    expect(new Set(statuses.slice(20))).toEqual(new Set([429]));
    expect(lookups.n).toBe(20); // the other 180 never reached the key table

    const limited = await from('203.0.113.7', BAD);
    expect(limited.json.error).toMatchObject({
      code: 'auth_failures_limited',
      hint: expect.stringMatching(/Retry-After/),
    });
    expect(limited.retryAfter).toBe('60');
    // A good key from that address waits too (it cannot be told apart without a lookup)...
    expect((await from('203.0.113.7', h.key)).status).toBe(429);
    // ...while another address is served, and does not count towards anything by succeeding.
    for (let i = 0; i < 30; i++) expect((await from('198.51.100.1', h.key)).status).toBe(200);
    expect(h.logs.join('')).toMatch(/too many failed API authentications from one address/);
    expect(h.logs.join('')).not.toContain(BAD);

    h.clock.advance(45_000);
    expect((await from('203.0.113.7', BAD)).retryAfter).toBe('15');
    h.clock.advance(15_000);
    expect((await from('203.0.113.7', h.key)).status).toBe(200);
    expect((await from('203.0.113.7', BAD)).status).toBe(401);
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped address as IPv4', async () => {
    h = await startHarness({ env: { SESAME_AUTH_FAILURE_LIMIT: '3' } });
    for (let i = 1; i <= 3; i++) expect((await from(`2001:db8:1:2::${i}`, BAD)).status).toBe(401);
    expect((await from('2001:db8:1:2:ffff::9', h.key)).status).toBe(429);
    expect((await from('2001:db8:1:3::1', h.key)).status).toBe(200);
    expect(clientKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientKey('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });

  it('ignores X-Forwarded-For by default, so a client cannot choose the address it is counted under', async () => {
    h = await startHarness({ env: { SESAME_AUTH_FAILURE_LIMIT: '5' } });
    for (let i = 0; i < 5; i++) await from('127.0.0.1', BAD, { 'x-forwarded-for': `192.0.2.${i}` });
    expect((await from('127.0.0.1', h.key, { 'x-forwarded-for': '192.0.2.200' })).status).toBe(429);
  });

  it('with SESAME_TRUST_PROXY, counts the client the trusted proxy names, each on its own', async () => {
    h = await startHarness({ env: { SESAME_AUTH_FAILURE_LIMIT: '5', SESAME_TRUST_PROXY: 'loopback' } });
    const proxy = '127.0.0.1';
    for (let i = 0; i < 5; i++) await from(proxy, BAD, { 'x-forwarded-for': '192.0.2.1' });
    expect((await from(proxy, h.key, { 'x-forwarded-for': '192.0.2.1' })).status).toBe(429);
    // Another client behind the same proxy is not in that bucket.
    expect((await from(proxy, h.key, { 'x-forwarded-for': '192.0.2.2' })).status).toBe(200);
    // A forged header from outside the trusted proxy is not believed: the sender's own address counts.
    for (let i = 0; i < 5; i++) await from('198.51.100.9', BAD, { 'x-forwarded-for': `192.0.2.${100 + i}` });
    expect((await from('198.51.100.9', h.key, { 'x-forwarded-for': '192.0.2.3' })).status).toBe(429);
  });

  it('SESAME_TRUST_PROXY takes true, false, addresses and ranges; a hop count is refused with the reason', () => {
    const load = (v: string) => loadConfig({ SESAME_TRUST_PROXY: v, SESAME_DATA_DIR: '/nonexistent-sesame-test' });
    expect(loadConfig({ SESAME_DATA_DIR: '/nonexistent-sesame-test' }).trustProxy).toBe(false);
    expect(load('false').trustProxy).toBe(false);
    expect(load('true').trustProxy).toBe(true);
    expect(load('loopback, 10.0.0.0/8,2001:db8::/32,192.0.2.1').trustProxy).toEqual([
      'loopback',
      '10.0.0.0/8',
      '2001:db8::/32',
      '192.0.2.1',
    ]);
    expect(() => load('2')).toThrow(expect.objectContaining({ message: expect.stringMatching(/hop count/) }));
    for (const bad of ['proxy.example.com', '10.0.0.0/33', '10.0.0.0/8/1', ' , '])
      expect(() => load(bad), bad).toThrow(
        expect.objectContaining({ code: 'config_invalid', details: { setting: 'SESAME_TRUST_PROXY' } }),
      );
  });
});
