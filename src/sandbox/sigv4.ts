import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * AWS Signature Version 4 verification, written from the AWS specification
 * ("Create a canonical request for Signature Version 4"): the sandbox rebuilds the canonical
 * request from what arrived on the wire and compares signatures in constant time.
 */

export const ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS refuses requests whose timestamp is more than 15 minutes away from its clock. */
export const MAX_SKEW_MS = 15 * 60 * 1000;
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

export interface ParsedAuthorization {
  accessKeyId: string;
  date: string; // yyyymmdd from the credential scope
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export type HeaderBag = Record<string, string | string[] | undefined>;

export class SigV4FormatError extends Error {}

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`. */
export function parseAuthorization(header: string): ParsedAuthorization {
  if (!header.startsWith(ALGORITHM + ' '))
    throw new SigV4FormatError(`Unsupported authorization type; only ${ALGORITHM} is accepted.`);
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    throw new SigV4FormatError(
      "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
    );
  }
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request')
    throw new SigV4FormatError(`Credential should be scoped to a valid region: ${credential}`);
  const [accessKeyId, date, region, service] = scope as [string, string, string, string, string];
  return { accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is percent-encoded. */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * Canonical URI. S3 signs the path exactly as sent (encoded once); every other service
 * normalises the path and URI-encodes each segment again (so `%40` becomes `%2540`).
 */
export function canonicalUri(rawPath: string, service: string): string {
  if (service === 's3') return rawPath === '' ? '/' : rawPath;
  const segments: string[] = [];
  for (const seg of rawPath.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segments.pop();
    else segments.push(seg);
  }
  const joined = segments.map(uriEncode).join('/');
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  return '/' + joined + trailing;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Canonical query string: each name and value decoded then re-encoded, sorted by name then value. */
export function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  const pairs: [string, string][] = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    const key = uriEncode(safeDecode(k));
    if (key.toLowerCase() === 'x-amz-signature') continue;
    pairs.push([key, uriEncode(safeDecode(v))]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function headerValue(headers: HeaderBag, name: string): string {
  const v = headers[name];
  const values = v === undefined ? [] : Array.isArray(v) ? v : [v];
  // Trim and collapse inner runs of spaces, as the spec requires; repeated headers join with commas.
  return values.map((x) => x.trim().replace(/\s+/g, ' ')).join(',');
}

export interface CanonicalInput {
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: HeaderBag; // lower-case names
  signedHeaders: string[];
  payloadHash: string;
  service: string;
}

export function canonicalRequest(i: CanonicalInput): string {
  const names = [...i.signedHeaders].map((h) => h.toLowerCase()).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headerValue(i.headers, n)}\n`).join('');
  return [
    i.method.toUpperCase(),
    canonicalUri(i.rawPath, i.service),
    canonicalQuery(i.rawQuery),
    canonicalHeaders,
    names.join(';'),
    i.payloadHash,
  ].join('\n');
}

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
}

/** The payload hash the signer used: x-amz-content-sha256 when present (S3 always sends it), else sha256(body). */
export function payloadHashOf(headers: HeaderBag, body: Buffer): string {
  const declared = headers['x-amz-content-sha256'];
  if (typeof declared === 'string' && declared !== '') return declared;
  return sha256Hex(body);
}

/** Parses an ISO basic timestamp (20260101T000000Z). */
export function parseAmzDate(amzDate: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!m) return undefined;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

export function formatAmzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

export interface VerifyInput {
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: HeaderBag;
  body: Buffer;
  auth: ParsedAuthorization;
  secretAccessKey: string;
}

export interface VerifyResult {
  ok: boolean;
  canonicalRequest: string;
  stringToSign: string;
}

/** Recomputes the signature and compares it in constant time. */
export function verifySignature(i: VerifyInput): VerifyResult {
  const amzDate = firstHeader(i.headers, 'x-amz-date') ?? '';
  const canonical = canonicalRequest({
    method: i.method,
    rawPath: i.rawPath,
    rawQuery: i.rawQuery,
    headers: i.headers,
    signedHeaders: i.auth.signedHeaders,
    payloadHash: payloadHashOf(i.headers, i.body),
    service: i.auth.service,
  });
  const scope = `${i.auth.date}/${i.auth.region}/${i.auth.service}/aws4_request`;
  const sts = stringToSign(amzDate, scope, canonical);
  const expected = createHmac('sha256', signingKey(i.secretAccessKey, i.auth.date, i.auth.region, i.auth.service))
    .update(sts, 'utf8')
    .digest();
  const given = /^[0-9a-f]{64}$/.test(i.auth.signature) ? Buffer.from(i.auth.signature, 'hex') : Buffer.alloc(0);
  const ok = given.length === expected.length && timingSafeEqual(given, expected);
  return { ok, canonicalRequest: canonical, stringToSign: sts };
}

export function firstHeader(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Signs a request; used by the sandbox's own tests and tools, never by the verifier. */
export function sign(
  i: Omit<VerifyInput, 'auth'> & {
    accessKeyId: string;
    region: string;
    service: string;
    amzDate: string;
    signedHeaders: string[];
  },
): string {
  const date = i.amzDate.slice(0, 8);
  const canonical = canonicalRequest({ ...i, payloadHash: payloadHashOf(i.headers, i.body) });
  const scope = `${date}/${i.region}/${i.service}/aws4_request`;
  const signature = createHmac('sha256', signingKey(i.secretAccessKey, date, i.region, i.service))
    .update(stringToSign(i.amzDate, scope, canonical))
    .digest('hex');
  const names = [...i.signedHeaders]
    .map((h) => h.toLowerCase())
    .sort()
    .join(';');
  return `${ALGORITHM} Credential=${i.accessKeyId}/${scope}, SignedHeaders=${names}, Signature=${signature}`;
}
