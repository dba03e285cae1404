import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, sendingSetup, startHarness } from '../helpers/harness.js';
import { queuedId, selfSignedCert, sentMessage, startRelay } from './setup.js';

// swaks is Debian's command-line SMTP test client (apt-get install -y swaks); a different client
// from nodemailer, so the relay is checked against more than one implementation when it is there.
const SWAKS = ['/usr/bin/swaks', '/usr/local/bin/swaks'].find((p) => existsSync(p));

/** Run swaks without blocking the event loop: the relay answers from this same process. */
const swaks = (args: string[]): Promise<{ out: string; code: number }> =>
  new Promise((resolve) => {
    execFile(SWAKS!, args, { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ out: stdout + stderr, code: err ? Number((err as { code?: number }).code ?? 1) : 0 }),
    );
  });

const suite = SWAKS ? describe : describe.skip;
suite(
  SWAKS
    ? 'SMTP relay with swaks'
    : 'SMTP relay with swaks: SKIPPED because the swaks binary is not installed (apt-get install -y swaks)',
  () => {
    let h: Harness;
    let r: Awaited<ReturnType<typeof startRelay>>;
    beforeAll(async () => {
      h = await startHarness({ env: { SESAME_WORKER_POLL_MS: '20' } });
      await sendingSetup(h);
      const pem = selfSignedCert();
      r = await startRelay(h, { smtpTlsCert: pem.cert, smtpTlsKey: pem.key, smtpRequireTls: true });
    });
    afterAll(async () => {
      await r?.close();
      await h?.close();
    });

    const base = () => [
      '--server',
      '127.0.0.1',
      '--port',
      String(r.port),
      '--ehlo',
      'client.test',
      '--from',
      'billing@example.com',
      '--to',
      'x@customer.test',
      '--auth-user',
      'sesame',
      '--auth-password',
      h.key,
      '--auth-hide-password',
    ];

    it('delivers a message over STARTTLS with AUTH PLAIN, tags taken from X-Sesame-Tags', async () => {
      const { out, code } = await swaks([
        ...base(),
        '--tls',
        '--auth',
        'PLAIN',
        '--header',
        'Subject: via swaks',
        '--header',
        'X-Sesame-Tags: via=swaks',
        '--body',
        'hello from swaks',
      ]);
      expect(code, out).toBe(0);
      const line = /<~ {1,2}(250 2\.0\.0 Ok: queued as \S+)/.exec(out)?.[1];
      expect(line, out).toBeTruthy();
      const id = queuedId(line!);
      const sent = await sentMessage(h, id);
      expect(sent).toMatchObject({ subject: 'via swaks', tags: { via: 'swaks' } });
      const got = h.sandbox.admin.mailbox().find((m) => m.messageId === sent.sesMessageId)!;
      expect(got.raw).toContain('hello from swaks');
      expect(got.raw).not.toMatch(/x-sesame-tags/i);
      expect(out).not.toContain(h.key);
    });

    it('is refused AUTH LOGIN before STARTTLS with 530', async () => {
      const { out, code } = await swaks([...base(), '--auth', 'LOGIN']);
      expect(code).not.toBe(0);
      expect(out).toMatch(/530 5\.7\.0 Must issue a STARTTLS command first/);
    });
  },
);
