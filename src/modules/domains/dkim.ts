import { createPrivateKey, createPublicKey } from 'node:crypto';
import { AppError } from '../../errors.js';

/**
 * Bring-your-own DKIM: SES takes the private key (base64 DER, or PEM) and the selector; the
 * person publishes the public half at `<selector>._domainkey.<domain>`. Sesame derives it here
 * so it can show and check the record, and never stores the private key.
 */
export function dkimPublicKey(privateKey: string): { publicKey: string; sesPrivateKey: string } {
  const body = privateKey.replace(/-----[^-]+-----|\s+/g, '');
  const der = Buffer.from(body, 'base64');
  for (const type of ['pkcs8', 'pkcs1'] as const) {
    try {
      const key = createPrivateKey({ key: der, format: 'der', type });
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (key.asymmetricKeyType !== 'rsa' || (bits !== 1024 && bits !== 2048)) break;
      return {
        publicKey: createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64'),
        sesPrivateKey: body,
      };
    } catch {
      // try the next encoding
    }
  }
  throw new AppError(
    'validation_failed',
    'The DKIM private key is not a 1024- or 2048-bit RSA key (PEM, or base64 DER).',
    { details: { field: 'byodkim.privateKey' } },
  );
}
