import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';

export type SmtpTlsConfig = Pick<Config, 'smtpTlsCert' | 'smtpTlsKey' | 'smtpRequireTls'>;

/**
 * Read the STARTTLS certificate and key once, at start, so a wrong path or a key that does not
 * match its certificate stops start-up with the setting named, not the first client's handshake.
 */
export function loadSmtpTls(config: SmtpTlsConfig): { cert: Buffer; key: Buffer } | undefined {
  const { smtpTlsCert: certPath, smtpTlsKey: keyPath } = config;
  if (!certPath && !keyPath) {
    if (config.smtpRequireTls) {
      throw new AppError(
        'config_invalid',
        'SESAME_SMTP_REQUIRE_TLS is true but the SMTP relay has no certificate: set SESAME_SMTP_TLS_CERT and SESAME_SMTP_TLS_KEY to PEM files.',
      );
    }
    return undefined;
  }
  if (!certPath)
    throw new AppError(
      'config_invalid',
      'SESAME_SMTP_TLS_KEY is set but SESAME_SMTP_TLS_CERT is not: give both, the certificate and its private key (PEM files).',
    );
  if (!keyPath)
    throw new AppError(
      'config_invalid',
      'SESAME_SMTP_TLS_CERT is set but SESAME_SMTP_TLS_KEY is not: give both, the certificate and its private key (PEM files).',
    );
  const cert = read(certPath, 'SESAME_SMTP_TLS_CERT');
  const key = read(keyPath, 'SESAME_SMTP_TLS_KEY');
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new AppError(
      'config_invalid',
      `SESAME_SMTP_TLS_CERT / SESAME_SMTP_TLS_KEY: the files are not a PEM certificate and its matching private key (${(e as Error).message}).`,
    );
  }
  return { cert, key };
}

function read(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AppError('config_invalid', `${setting}: cannot read ${path} (${code ?? (e as Error).message}).`);
  }
}
