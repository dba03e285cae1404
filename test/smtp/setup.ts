import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { expect } from 'vitest';
import type { Config } from '../../src/config.js';
import { createSmtpRelay } from '../../src/smtp/relay.js';
import type { Harness } from '../helpers/harness.js';

export type RelayConfig = Partial<Pick<Config, 'smtpTlsCert' | 'smtpTlsKey' | 'smtpRequireTls' | 'smtpMaxBytes'>>;

/** The relay wired to the harness's real pipeline, listening on a free loopback port. */
export async function startRelay(h: Harness, config: RelayConfig = {}) {
  const relay = createSmtpRelay({
    config: { ...h.container.config, ...config },
    apiKeys: h.container.apiKeys,
    authLimit: h.container.authLimit,
    messages: h.container.messages,
    logger: h.container.logger,
  });
  const { port } = await relay.listen(0, '127.0.0.1');
  const transports: nodemailer.Transporter[] = [];
  return {
    relay,
    port,
    /** A nodemailer SMTP client; no STARTTLS unless asked (`requireTLS`). */
    client(
      o: { user?: string; pass?: string; method?: 'PLAIN' | 'LOGIN'; requireTLS?: boolean; noAuth?: boolean } = {},
    ) {
      const t = nodemailer.createTransport({
        host: '127.0.0.1',
        port,
        secure: false,
        ...(o.requireTLS ? { requireTLS: true, tls: { rejectUnauthorized: false } } : { ignoreTLS: true }),
        ...(o.noAuth
          ? {}
          : { auth: { user: o.user ?? 'sesame', pass: o.pass ?? h.key }, authMethod: o.method ?? 'PLAIN' }),
      });
      transports.push(t);
      return t;
    },
    async close() {
      for (const t of transports) t.close();
      await relay.close();
    },
  };
}

/** Send what is due, then the message as the API shows it: sent. */
export async function sentMessage(h: Harness, id: string): Promise<any> {
  await h.drain();
  const m = (await h.call('GET', `/v1/emails/${id}`)).json;
  expect(m.status, JSON.stringify(m.lastError)).toBe('sent');
  return m;
}

/** A throwaway self-signed certificate for localhost (openssl is part of the base system). */
export function selfSignedCert(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sesame-smtp-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/** The error nodemailer rejects with: the server's reply code and text. */
export async function smtpError(
  p: Promise<unknown>,
): Promise<{ responseCode?: number; response?: string; code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { responseCode?: number; response?: string; message: string };
  }
  throw new Error('expected the SMTP exchange to fail');
}

export const queuedId = (response: string): string => {
  const m = /^250 2\.0\.0 Ok: queued as (msg_\S+)/.exec(response);
  if (!m) throw new Error(`not a queued reply: ${response}`);
  return m[1]!;
};
