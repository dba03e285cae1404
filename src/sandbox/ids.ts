import { randomBytes, randomUUID } from 'node:crypto';

/** Identifier shapes copied from what AWS hands out, so code that inspects prefixes behaves as in production. */
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const SECRET_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function randomString(length: number, alphabet: string): string {
  const bytes = randomBytes(length);
  let out = '';
  // Modulo bias is irrelevant for a local stand-in; uniqueness is what matters.
  for (let i = 0; i < length; i++) out += alphabet[(bytes[i] ?? 0) % alphabet.length];
  return out;
}

export const upperAlnum = (n: number): string => randomString(n, UPPER_ALNUM);
export const lowerAlnum = (n: number): string => randomString(n, LOWER_ALNUM);

/** Long-term user key: AKIA + 16. */
export const userAccessKeyId = (): string => 'AKIA' + upperAlnum(16);
/** Temporary (STS) key: ASIA + 16. */
export const sessionAccessKeyId = (): string => 'ASIA' + upperAlnum(16);
export const secretAccessKey = (): string => randomString(40, SECRET_CHARS);
export const sessionToken = (): string => 'FwoGZXIvYXdzE' + randomBytes(96).toString('base64');
export const userId = (): string => 'AIDA' + upperAlnum(17);
export const roleId = (): string => 'AROA' + upperAlnum(17);
export const requestId = (): string => randomUUID();
export const uuid = (): string => randomUUID();

/** SES message ids look like 010001xxxxxxxxxx-uuid-000000. */
export function sesMessageId(now: Date): string {
  return `0100${now.getTime().toString(16).padStart(12, '0')}-${randomUUID()}-000000`;
}
