import { describe, expect, test } from 'vitest';
import {
  canonicalQuery,
  canonicalUri,
  parseAuthorization,
  sign,
  signingKey,
  verifySignature,
} from '../../src/sandbox/sigv4.js';

// The "get-vanilla" case of the AWS SigV4 test suite.
const VANILLA = {
  method: 'GET',
  rawPath: '/',
  rawQuery: '',
  headers: { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' },
  body: Buffer.alloc(0),
};
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

describe('sigv4', () => {
  test('reproduces the AWS test-suite signature for get-vanilla', () => {
    const header = sign({
      ...VANILLA,
      secretAccessKey: SECRET,
      accessKeyId: 'AKIDEXAMPLE',
      region: 'us-east-1',
      service: 'service',
      amzDate: '20150830T123600Z',
      signedHeaders: ['host', 'x-amz-date'],
    });
    expect(header).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
    const auth = parseAuthorization(header);
    expect(verifySignature({ ...VANILLA, auth, secretAccessKey: SECRET }).ok).toBe(true);
    expect(verifySignature({ ...VANILLA, auth, secretAccessKey: SECRET + 'x' }).ok).toBe(false);
    expect(
      verifySignature({ ...VANILLA, headers: { ...VANILLA.headers, host: 'other' }, auth, secretAccessKey: SECRET }).ok,
    ).toBe(false);
  });

  test('derives the documented signing key', () => {
    // Example from the AWS "derive a signing key" documentation.
    expect(signingKey(SECRET, '20150830', 'us-east-1', 'iam').toString('hex')).toBe(
      'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9',
    );
  });

  test('canonical URI: S3 encodes once, other services twice', () => {
    expect(canonicalUri('/v2/email/identities/a%40b.com', 'ses')).toBe('/v2/email/identities/a%2540b.com');
    expect(canonicalUri('/bucket/my%20key', 's3')).toBe('/bucket/my%20key');
    expect(canonicalUri('/a/./b/../c/', 'ses')).toBe('/a/c/');
    expect(canonicalUri('', 'sts')).toBe('/');
  });

  test('canonical query sorts and re-encodes', () => {
    expect(canonicalQuery('b=2&a=1&a=0&c=x%20y&d')).toBe('a=0&a=1&b=2&c=x%20y&d=');
    expect(canonicalQuery('k=a+b')).toBe('k=a%2Bb');
  });

  test('trims and collapses header values', () => {
    const headers = { host: 'h', 'x-amz-date': '20150830T123600Z', 'x-custom': '  a   b  ' };
    const base = { method: 'POST', rawPath: '/', rawQuery: '', body: Buffer.from('x') };
    const header = sign({
      ...base,
      headers: { ...headers, 'x-custom': 'a b' },
      secretAccessKey: SECRET,
      accessKeyId: 'AK',
      region: 'r',
      service: 's',
      amzDate: '20150830T123600Z',
      signedHeaders: ['host', 'x-amz-date', 'x-custom'],
    });
    expect(verifySignature({ ...base, headers, auth: parseAuthorization(header), secretAccessKey: SECRET }).ok).toBe(
      true,
    );
  });

  test('rejects malformed authorization headers', () => {
    expect(() => parseAuthorization('AWS AKID:sig')).toThrow(/AWS4-HMAC-SHA256/);
    expect(() =>
      parseAuthorization('AWS4-HMAC-SHA256 Credential=AK/2015/us/s, SignedHeaders=host, Signature=00'),
    ).toThrow(/Credential/);
    expect(() => parseAuthorization('AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s/aws4_request')).toThrow(
      /SignedHeaders/,
    );
  });
});
