import { execFileSync } from 'node:child_process';
import { createSign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCertUrl, createSnsVerifier, type SnsMessage, stringToSign } from '../../src/aws/sns-verify.js';
import { manualClock } from '../../src/clock.js';

const dir = mkdtempSync(join(tmpdir(), 'sns-'));
const CERT_PATH = 'SimpleNotificationService-0000000000000000000000.pem';
const CERT_URL = `https://sns.us-east-1.amazonaws.com/${CERT_PATH}`;
let keyPem: string;

beforeAll(() => {
  // A key pair and certificate of our own, in the place the preloaded-certificate directory expects.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=sns.amazonaws.com',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  mkdirSync(join(dir, 'certs'));
  execFileSync('cp', [join(dir, 'cert.pem'), join(dir, 'certs', CERT_PATH)]);
  keyPem = readFileSync(join(dir, 'key.pem'), 'utf8');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const now = new Date(Date.now() + 60_000); // inside the test certificate's validity (a day from its creation)
function signed(partial: Partial<SnsMessage>, version: '1' | '2' = '2'): SnsMessage {
  const m = {
    Type: 'Notification',
    MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
    TopicArn: 'arn:aws:sns:us-east-1:222222222222:sesame-events',
    Subject: 'Amazon SES Email Event Notification',
    Message: '{"eventType":"Bounce"}',
    Timestamp: new Date(now.getTime() - 60_000).toISOString(),
    SignatureVersion: version,
    Signature: '',
    SigningCertURL: CERT_URL,
    ...partial,
  } as SnsMessage;
  const s = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  s.update(stringToSign(m));
  m.Signature = s.sign(keyPem, 'base64');
  return m;
}

const verifier = () => createSnsVerifier({ clock: manualClock(now), maxAgeSeconds: 3600, certDir: join(dir, 'certs') });

describe('SNS signature verification', () => {
  it('accepts SignatureVersion 1 and 2, notifications and subscription confirmations, as JSON text', async () => {
    const v = verifier();
    await expect(v.verify(JSON.stringify(signed({}, '1')))).resolves.toMatchObject({ Type: 'Notification' });
    await expect(v.verify(signed({}, '2'))).resolves.toMatchObject({ Type: 'Notification' });
    const { Subject: _s, ...noSubject } = signed({});
    await expect(v.verify(signed(noSubject))).resolves.toBeTruthy();
    const conf = signed({
      Type: 'SubscriptionConfirmation',
      SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc',
      Token: 'abc',
      Subject: undefined,
    });
    await expect(v.verify(conf)).resolves.toMatchObject({ Type: 'SubscriptionConfirmation' });
  });

  it('refuses every tampered signed field', async () => {
    const v = verifier();
    for (const key of ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn'] as const) {
      const m = signed({});
      (m as unknown as Record<string, string>)[key] =
        key === 'Timestamp' ? new Date(now.getTime() - 30_000).toISOString() : `${m[key]}x`;
      await expect(v.verify(m), key).rejects.toMatchObject({ code: 'sns_signature_invalid' });
    }
    const typeSwap = signed({});
    typeSwap.Type = 'UnsubscribeConfirmation';
    (typeSwap as SnsMessage).SubscribeURL = 'https://sns.us-east-1.amazonaws.com/x';
    (typeSwap as SnsMessage).Token = 't';
    await expect(v.verify(typeSwap)).rejects.toMatchObject({ code: 'sns_signature_invalid' });
    const badSig = signed({});
    badSig.Signature = Buffer.from('nope').toString('base64');
    await expect(v.verify(badSig)).rejects.toMatchObject({ code: 'sns_signature_invalid' });
    const v1as2 = signed({}, '1');
    v1as2.SignatureVersion = '2';
    await expect(v.verify(v1as2)).rejects.toMatchObject({ code: 'sns_signature_invalid' });
  });

  it('refuses certificate URLs that are not the SNS endpoint, without fetching', async () => {
    let fetched = 0;
    const v = createSnsVerifier({
      clock: manualClock(now),
      maxAgeSeconds: 3600,
      fetchCert: async () => ((fetched += 1), readFileSync(join(dir, 'cert.pem'), 'utf8')),
    });
    for (const url of [
      'http://sns.us-east-1.amazonaws.com/cert.pem',
      'https://sns.us-east-1.amazonaws.com:8443/cert.pem',
      'https://user:pw@sns.us-east-1.amazonaws.com/cert.pem',
      'https://sns.us-east-1.amazonaws.com.evil.test/cert.pem',
      'https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/cert.pem',
      'https://evil.test/sns.us-east-1.amazonaws.com/cert.pem',
      'https://sns.us-east-1.amazonaws.com/cert.txt',
      'https://sns.us-east-1.amazonaws.com/cert.pem?x=1',
      'not a url',
    ]) {
      await expect(v.verify(signed({ SigningCertURL: url })), url).rejects.toMatchObject({
        code: 'sns_cert_url_invalid',
      });
    }
    expect(fetched).toBe(0);
    expect(checkCertUrl('https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem').hostname).toBe(
      'sns.cn-north-1.amazonaws.com.cn',
    );
    // A good URL is fetched once and cached.
    await v.verify(signed({}));
    await v.verify(signed({}));
    expect(fetched).toBe(1);
  });

  it('refuses stale messages and malformed bodies', async () => {
    const v = verifier();
    await expect(
      v.verify(signed({ Timestamp: new Date(now.getTime() - 3601_000).toISOString() })),
    ).rejects.toMatchObject({ code: 'sns_stale' });
    for (const body of [
      'not json',
      '[]',
      '{}',
      JSON.stringify({ ...signed({}), SignatureVersion: '3' }),
      JSON.stringify({ ...signed({}), MessageId: 5 }),
    ]) {
      await expect(v.verify(body), body.slice(0, 30)).rejects.toMatchObject({ code: 'sns_invalid' });
    }
    // A certificate that cannot be had is a 503: SNS retries 5xx answers, not 4xx ones.
    await expect(
      verifier().verify(signed({ SigningCertURL: 'https://sns.us-east-1.amazonaws.com/Missing.pem' })),
    ).rejects.toMatchObject({ code: 'sns_cert_unavailable', status: 503 });
    // A certificate past its validity is refused, whatever the signature.
    const later = createSnsVerifier({
      clock: manualClock(new Date(now.getTime() + 3 * 86_400_000)),
      maxAgeSeconds: 10 * 86_400,
      certDir: join(dir, 'certs'),
    });
    await expect(later.verify(signed({}))).rejects.toMatchObject({ code: 'sns_cert_expired', status: 400 });
  });
});

describe('SNS freshness, certificate failures and emulators', () => {
  it('refuses messages dated more than 5 minutes ahead, with their own code', async () => {
    const v = verifier();
    const ahead = (ms: number) => signed({ Timestamp: new Date(now.getTime() + ms).toISOString() });
    await expect(v.verify(ahead(4 * 60_000))).resolves.toBeTruthy();
    await expect(v.verify(ahead(6 * 60_000))).rejects.toMatchObject({
      code: 'sns_future',
      status: 400,
      message: expect.stringMatching(/360 s ahead/),
    });
  });

  it('does not fetch a certificate that could not be had again for its URL within 60 s', async () => {
    const clock = manualClock(now);
    let fetched = 0;
    let up = false;
    const v = createSnsVerifier({
      clock,
      maxAgeSeconds: 3600,
      fetchCert: async () => {
        fetched += 1;
        if (!up) throw new Error('HTTP 404');
        return readFileSync(join(dir, 'cert.pem'), 'utf8');
      },
    });
    for (let i = 0; i < 50; i++)
      await expect(v.verify(signed({}))).rejects.toMatchObject({
        code: 'sns_cert_unavailable',
        status: 503,
        message: expect.stringContaining('HTTP 404'),
      });
    expect(fetched).toBe(1);
    // Another URL is its own matter.
    await expect(
      v.verify(signed({ SigningCertURL: 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-other.pem' })),
    ).rejects.toMatchObject({ code: 'sns_cert_unavailable' });
    expect(fetched).toBe(2);
    up = true;
    clock.advance(59_000);
    await expect(v.verify(signed({}))).rejects.toMatchObject({ code: 'sns_cert_unavailable' });
    expect(fetched).toBe(2);
    clock.advance(1_000);
    await expect(v.verify(signed({ Timestamp: clock.now().toISOString() }))).resolves.toBeTruthy();
    expect(fetched).toBe(3);
  });

  it('takes the certificate from the configured SNS endpoint (an emulator) and from no other host', async () => {
    const endpoint = 'http://127.0.0.1:4566';
    const urls: string[] = [];
    const v = createSnsVerifier({
      clock: manualClock(now),
      maxAgeSeconds: 3600,
      // Preloaded AWS certificates do not stand in for the emulator's own.
      certDir: join(dir, 'certs'),
      snsEndpoint: endpoint,
      fetchCert: async (u) => (urls.push(u.toString()), readFileSync(join(dir, 'cert.pem'), 'utf8')),
    });
    // An emulator may name a new certificate URL in every message.
    for (const n of [1, 2])
      await expect(
        v.verify(signed({ SigningCertURL: `${endpoint}/_aws/sns/SimpleNotificationService-${n}.pem` })),
      ).resolves.toBeTruthy();
    expect(urls).toEqual([
      `${endpoint}/_aws/sns/SimpleNotificationService-1.pem`,
      `${endpoint}/_aws/sns/SimpleNotificationService-2.pem`,
    ]);
    for (const url of [
      'http://127.0.0.1:4567/SimpleNotificationService-1.pem',
      'http://localhost:4566/SimpleNotificationService-1.pem',
      'https://127.0.0.1:4566/SimpleNotificationService-1.pem',
      'http://user:pw@127.0.0.1:4566/SimpleNotificationService-1.pem',
      `${endpoint}/SimpleNotificationService-1.pem?x=1`,
      `${endpoint}/cert.txt`,
      'https://evil.test/SimpleNotificationService-1.pem',
    ]) {
      await expect(v.verify(signed({ SigningCertURL: url })), url).rejects.toMatchObject({
        code: 'sns_cert_url_invalid',
      });
    }
    expect(urls).toHaveLength(2);
    // Without a configured endpoint, the emulator's URL is like any other host.
    expect(() => checkCertUrl(`${endpoint}/SimpleNotificationService-1.pem`)).toThrow(
      expect.objectContaining({ code: 'sns_cert_url_invalid' }),
    );
    // AWS's own certificates still come from the preloaded directory.
    await expect(v.verify(signed({}))).resolves.toBeTruthy();
    expect(urls).toHaveLength(2);
  });
  it('gives up on a certificate that does not arrive once 5 s have passed on its clock', async () => {
    let asked!: () => void;
    const arrived = new Promise<void>((r) => (asked = r));
    const silent = createServer(() => asked()); // takes the request and never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const clock = manualClock(now);
      const v = createSnsVerifier({ clock, maxAgeSeconds: 3600, snsEndpoint: endpoint });
      const verified = v.verify(signed({ SigningCertURL: `${endpoint}/SimpleNotificationService-9.pem` }));
      const outcome = verified.catch((e: unknown) => e);
      await arrived;
      clock.advance(4_999);
      expect(clock.pending()).toBe(1);
      clock.advance(1);
      expect(await outcome).toMatchObject({
        code: 'sns_cert_unavailable',
        message: expect.stringContaining('timed out after 5000 ms'),
      });
      expect(clock.pending()).toBe(0);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
