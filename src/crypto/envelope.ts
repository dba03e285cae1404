import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';

/**
 * AES-256-GCM envelope encryption: each value gets its own random data key, which is itself
 * sealed under the master key. `context` is bound as additional authenticated data so a
 * ciphertext copied to another row or field does not decrypt.
 */
interface Sealed {
  v: 1;
  kid: string; // fingerprint of the master key, to say which key is needed
  dk: string; // iv|tag|ciphertext of the data key, base64
  ct: string; // iv|tag|ciphertext of the value, base64
}

export interface Envelope {
  seal(plaintext: string, context: string): string;
  open(sealed: string, context: string): string;
  /** Fingerprint of the master key (not the key), to say which key is configured; undefined without one. */
  readonly keyId: string | undefined;
}

/** The master key fingerprint a sealed value names, or undefined when it is not an envelope. */
export function sealedKeyId(sealed: string): string | undefined {
  try {
    const kid = (JSON.parse(sealed) as Partial<Sealed>).kid;
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}

/*
 * The key check value: a known text sealed under the master key and kept in the database, so a
 * process started with another key (or none) finds out before it touches a stored secret.
 */
const CHECK_CONTEXT = 'sesame:master-key-check';
const CHECK_TEXT = 'sesame master key check v1';

export const sealKeyCheck = (envelope: Envelope): string => envelope.seal(CHECK_TEXT, CHECK_CONTEXT);

/** Whether the envelope's master key is the one `check` was sealed with. */
export function opensKeyCheck(envelope: Envelope, check: string): boolean {
  try {
    return envelope.open(check, CHECK_CONTEXT) === CHECK_TEXT;
  } catch {
    return false;
  }
}

export function createEnvelope(masterKey: Buffer | undefined): Envelope {
  const requireKey = (): Buffer => {
    if (!masterKey)
      throw new AppError(
        'master_key_missing',
        'No master key is configured, so secrets cannot be encrypted or decrypted.',
      );
    return masterKey;
  };
  const kid = masterKey ? createHash('sha256').update(masterKey).digest('hex').slice(0, 12) : '';
  return {
    keyId: masterKey ? kid : undefined,
    seal(plaintext, context) {
      const mk = requireKey();
      const dataKey = randomBytes(32);
      const sealed: Sealed = {
        v: 1,
        kid,
        dk: gcmSeal(mk, dataKey, `dk:${context}`),
        ct: gcmSeal(dataKey, Buffer.from(plaintext, 'utf8'), context),
      };
      dataKey.fill(0);
      return JSON.stringify(sealed);
    },
    open(text, context) {
      const mk = requireKey();
      let sealed: Sealed;
      try {
        sealed = JSON.parse(text) as Sealed;
      } catch {
        throw new AppError('decryption_failed', 'A stored secret is not a valid envelope.');
      }
      try {
        const dataKey = gcmOpen(mk, sealed.dk, `dk:${context}`);
        const out = gcmOpen(dataKey, sealed.ct, context).toString('utf8');
        dataKey.fill(0);
        return out;
      } catch {
        throw new AppError(
          'decryption_failed',
          `A stored secret could not be decrypted (sealed under master key ${sealed.kid}, configured key is ${kid}).`,
        );
      }
    },
  };
}

function gcmSeal(key: Buffer, data: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([c.update(data), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64');
}

function gcmOpen(key: Buffer, b64: string, aad: string): Buffer {
  const buf = Buffer.from(b64, 'base64');
  const d = createDecipheriv('aes-256-gcm', key, buf.subarray(0, 12));
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(buf.subarray(12, 28));
  return Buffer.concat([d.update(buf.subarray(28)), d.final()]);
}
