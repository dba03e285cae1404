import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSmtpRelay } from '../../src/smtp/relay.js';
import { type Harness, sendingSetup, startHarness } from '../helpers/harness.js';
import { b64, dialog, endDialogs } from './dialog.js';
import { queuedId, selfSignedCert, smtpError, startRelay } from './setup.js';

let h: Harness;
let pem: { cert: string; key: string };
const relays: Array<{ close(): Promise<void> }> = [];
beforeAll(async () => {
  pem = selfSignedCert();
  h = await startHarness();
  await sendingSetup(h);
});
afterEach(async () => {
  endDialogs();
  while (relays.length) await relays.pop()!.close();
});
afterAll(async () => {
  await h.close();
});

const tlsRelay = async (requireTls: boolean) => {
  const r = await startRelay(h, { smtpTlsCert: pem.cert, smtpTlsKey: pem.key, smtpRequireTls: requireTls });
  relays.push(r);
  return r;
};
const mail = { from: 'billing@example.com', to: 'x@customer.test', subject: 'over TLS', text: 'hi' };
const plainAuth = () => `AUTH PLAIN ${b64(`\0sesame\0${h.key}`)}`;

describe('SMTP relay: STARTTLS', () => {
  it('with smtpRequireTls, refuses AUTH before STARTTLS with 530 and accepts it after', async () => {
    const r = await tlsRelay(true);
    const d = await dialog(r.port);
    expect(await d.cmd('EHLO client.test')).toMatch(/^250-STARTTLS$/m);
    expect(await d.cmd(plainAuth())).toBe('530 5.7.0 Must issue a STARTTLS command first');
    expect(await d.cmd('MAIL FROM:<billing@example.com>')).toMatch(/^530 /);
    expect(await d.starttls()).toMatch(/^220 /);
    expect(await d.cmd('EHLO client.test')).not.toMatch(/STARTTLS/);
    expect(await d.cmd(plainAuth())).toMatch(/^235 /);
  });

  it('sends with nodemailer over STARTTLS using a self-signed certificate', async () => {
    const r = await tlsRelay(true);
    const info = await r.client({ requireTLS: true, method: 'LOGIN' }).sendMail(mail);
    const m = (await h.call('GET', `/v1/emails/${queuedId(info.response)}`)).json;
    expect(m).toMatchObject({ status: 'queued', source: 'smtp', subject: 'over TLS' });
    // A client that will not upgrade cannot authenticate.
    const e = await smtpError(r.client({ method: 'PLAIN' }).sendMail(mail));
    expect(e.responseCode).toBe(530);
    expect(e.response).toMatch(/Must issue a STARTTLS command first/);
  });

  it('without smtpRequireTls, offers STARTTLS but still takes AUTH in clear text', async () => {
    const r = await tlsRelay(false);
    const d = await dialog(r.port);
    expect(await d.cmd('EHLO client.test')).toMatch(/STARTTLS/);
    expect(await d.cmd(plainAuth())).toMatch(/^235 /);
  });

  it('refuses to start with a clear message when the TLS settings are unusable', () => {
    const start = (c: { smtpTlsCert?: string; smtpTlsKey?: string; smtpRequireTls?: boolean }) => () =>
      createSmtpRelay({
        config: { ...h.container.config, smtpTlsCert: undefined, smtpTlsKey: undefined, smtpRequireTls: false, ...c },
        apiKeys: h.container.apiKeys,
        messages: h.container.messages,
        logger: h.container.logger,
      });
    expect(start({ smtpRequireTls: true })).toThrow(
      /SESAME_SMTP_REQUIRE_TLS is true but the SMTP relay has no certificate: set SESAME_SMTP_TLS_CERT and SESAME_SMTP_TLS_KEY/,
    );
    expect(start({ smtpTlsCert: '/nonexistent/cert.pem', smtpTlsKey: pem.key })).toThrow(
      'SESAME_SMTP_TLS_CERT: cannot read /nonexistent/cert.pem (ENOENT)',
    );
    expect(start({ smtpTlsCert: pem.cert, smtpTlsKey: '/nonexistent/key.pem' })).toThrow(
      'SESAME_SMTP_TLS_KEY: cannot read /nonexistent/key.pem (ENOENT)',
    );
    expect(start({ smtpTlsCert: pem.cert })).toThrow(/SESAME_SMTP_TLS_CERT is set but SESAME_SMTP_TLS_KEY is not/);
    const garbage = join(dirname(pem.cert), 'garbage.pem');
    writeFileSync(garbage, 'not a key');
    expect(start({ smtpTlsCert: pem.cert, smtpTlsKey: garbage })).toThrow(
      /not a PEM certificate and its matching private key/,
    );
  });
});
