import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createContainer } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import { runCli, serveForCli, startServer } from '../helpers/cli.js';
import { fakeKeyId } from '../helpers/fake-keys.js';
import { freePort } from '../helpers/net.js';

/**
 * `sesame start` is all or nothing (every port checked first, everything closed on a later failure),
 * and a missing or wrong master key is refused instead of silently replaced.
 */
const root = mkdtempSync(join(tmpdir(), 'sesame-startup-'));
const base: NodeJS.ProcessEnv = {
  ...process.env,
  NODE_ENV: 'test',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
delete base.SESAME_SANDBOX;
delete base.SESAME_MASTER_KEY;
delete base.SESAME_PORT;
delete base.SESAME_SMTP_PORT;
delete base.DATABASE_URL;

let n = 0;
/** A data directory that does not exist yet. */
const newDataDir = () => join(root, `d${++n}`, 'data');
const sesame = (dataDir: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
  runCli({ ...base, SESAME_DATA_DIR: dataDir, ...extra }, args);

const held: Server[] = [];
/** Hold a port the way another program would. */
async function hold(port?: number): Promise<number> {
  const p = port ?? (await freePort());
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(p, '127.0.0.1', resolve);
  });
  held.push(srv);
  return p;
}
/** Whether a port is free again (the process that had it closed it). */
async function isFree(port: number): Promise<boolean> {
  const srv = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((r) => srv.close(r));
  return ok;
}

afterEach(async () => {
  await Promise.all(held.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('sesame start is all or nothing', { timeout: 90_000 }, () => {
  it('a busy API port: one error naming --port, nothing opened or printed, and the process exits', async () => {
    const dataDir = newDataDir();
    const api = await hold();
    const r = await sesame(dataDir, ['start', '--port', String(api), '--smtp-port', String(await freePort())]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('error [port_in_use]: Sesame did not start: 1 port is not available.');
    expect(r.stderr).toContain(
      `the API on 127.0.0.1:${api}: in use by another program. Change it with --port (SESAME_PORT).`,
    );
    expect(r.stdout).toBe('');
    expect(existsSync(dataDir)).toBe(false); // checked before the database was even created
  });

  it('a busy SMTP port: named with --smtp-port or --no-smtp; the API never answers and its port is free again', async () => {
    const dataDir = newDataDir();
    const api = await freePort();
    const smtp = await hold();
    const r = await sesame(dataDir, ['start', '--port', String(api), '--smtp-port', String(smtp)]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `the SMTP relay on 127.0.0.1:${smtp}: in use by another program. Change it with --smtp-port (SESAME_SMTP_PORT), or --no-smtp.`,
    );
    expect(r.stdout).not.toContain('listening');
    expect(await isFree(api)).toBe(true);
  });

  it('a busy sandbox port: named with --sandbox-port', async () => {
    const dataDir = newDataDir();
    const sandbox = await hold();
    const r = await sesame(dataDir, [
      'start',
      '--sandbox',
      '--port',
      String(await freePort()),
      '--no-smtp',
      '--sandbox-port',
      String(sandbox),
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `the local AWS sandbox on 127.0.0.1:${sandbox}: in use by another program. Change it with --sandbox-port.`,
    );
    expect(r.stdout).toBe('');
  });

  it('several busy ports: every conflict in one report', async () => {
    const dataDir = newDataDir();
    const [api, smtp, sandbox, dns] = [await hold(), await hold(), await hold(), await hold()];
    const r = await sesame(
      dataDir,
      ['start', '--port', String(api), '--sandbox-port', String(sandbox), '--sandbox-dns-port', String(dns)],
      { SESAME_SMTP_PORT: String(smtp), SESAME_SANDBOX: 'true' },
    );
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.match(/error \[/g)).toHaveLength(1);
    expect(r.stderr).toContain('Sesame did not start: 4 ports are not available.');
    for (const line of [
      `the API on 127.0.0.1:${api}: in use by another program. Change it with --port (SESAME_PORT).`,
      `the SMTP relay on 127.0.0.1:${smtp}: in use by another program. Change it with --smtp-port (SESAME_SMTP_PORT), or --no-smtp.`,
      `the local AWS sandbox on 127.0.0.1:${sandbox}: in use by another program. Change it with --sandbox-port.`,
      `the sandbox DNS server on 127.0.0.1:${dns} (TCP and UDP): in use by another program. Change it with --sandbox-dns-port.`,
    ])
      expect(r.stderr).toContain(line);
    expect(r.stdout).toBe('');
  });

  it('in sandbox mode, busy default ports move to free ones (said at once); the second terminal finds the server', async () => {
    const dataDir = newDataDir();
    // Another program on each default (if one already holds it, that serves as well).
    for (const p of [3000, 2587, 3566]) await hold(p).catch(() => undefined);
    const server = await startServer({ ...base, SESAME_DATA_DIR: dataDir }, ['--sandbox']);
    try {
      const out = server.stdout();
      expect(out).toMatch(/Port 3000 is in use by another program: the API uses \d+ instead\./);
      expect(out).toMatch(/Port 2587 is in use by another program: the SMTP relay uses \d+ instead\./);
      expect(out).toMatch(/Port 3566 is in use by another program: the local AWS sandbox uses \d+ instead\./);
      expect(server.api).not.toBe('http://127.0.0.1:3000');
      expect((await fetch(`${server.api}/healthz`)).status).toBe(200);
      const file = JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { api: string };
      expect(file.api).toBe(server.api);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(existsSync(join(dataDir, 'server.json'))).toBe(false);
  });

  it('a failure after the API opened closes it again and exits non-zero', async () => {
    const dataDir = newDataDir();
    const api = await freePort();
    // The SMTP relay refuses a non-loopback address without TLS, after the API listens.
    const r = await sesame(dataDir, ['start', '--port', String(api), '--smtp-port', String(await freePort())], {
      SESAME_SMTP_HOST: '0.0.0.0',
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('error [config_invalid]: The SMTP relay would listen on 0.0.0.0 without TLS');
    expect(r.stdout).not.toContain('listening');
    expect(await isFree(api)).toBe(true);
  });

  it('a wrong flag value names the flag', async () => {
    const dataDir = newDataDir();
    const bad = await sesame(dataDir, ['start', '--sandbox-port', 'abc']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(
      'error [config_invalid]: --sandbox-port must be a port number from 0 to 65535, got "abc".',
    );
    const big = await sesame(dataDir, ['start', '--port', '99999']);
    expect(big.code).not.toBe(0);
    expect(big.stderr).toMatch(/error \[config_invalid\]: --port \(SESAME_PORT\) is invalid: .*; got 99999\./);
    expect(`${bad.stderr}${big.stderr}`).not.toContain('internal_error');
    const help = await sesame(dataDir, ['start', '--help']);
    expect(help.stdout).toMatch(/--sandbox-port <port>\s+port of the local AWS sandbox \(default: 3566\)/);
    expect(help.stdout).not.toContain('4566');
  });
});

describe('the master key', { timeout: 90_000 }, () => {
  /** A database as an older version left it: sealed secrets, no check value. */
  async function olderDatabase(dataDir: string, key: string): Promise<void> {
    const config = loadConfig({
      SESAME_DATA_DIR: dataDir,
      SESAME_MASTER_KEY: key,
      SESAME_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });
    const c = await createContainer(config, { logger: createLogger('silent') });
    try {
      const ws = await c.workspaces.create('default', 'test');
      await c.connections.create(
        ws.id,
        {
          name: 'keys',
          region: 'us-east-1',
          mode: 'access_keys',
          accessKeyId: fakeKeyId('startup'),
          secretAccessKey: randomBytes(30).toString('base64'),
        },
        'test',
      );
      await c.webhooks.create(ws.id, { url: 'http://127.0.0.1:9/hook', eventTypes: ['*'], allowPrivate: true }, 'test');
      await c.store.db.deleteFrom('master_key_check').execute();
    } finally {
      await c.close();
    }
  }

  it('a fresh start makes the key; the data directory is 0700, the database and the key 0600', async () => {
    const dataDir = newDataDir();
    const r = await sesame(dataDir, ['init']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${join(dataDir, 'master.key')} (created; back it up`);
    expect(mode(dataDir)).toBe('700');
    expect(mode(join(dataDir, 'sesame.db'))).toBe('600');
    expect(mode(join(dataDir, 'master.key'))).toBe('600');
  });

  it('a lost key file is refused, naming where the key should be, and not replaced by a new key', async () => {
    const dataDir = newDataDir();
    expect((await sesame(dataDir, ['init'])).code).toBe(0);
    const keyFile = join(dataDir, 'master.key');
    unlinkSync(keyFile);
    const r = await sesame(dataDir, ['start', '--port', String(await freePort()), '--no-smtp']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('error [master_key_missing]');
    expect(r.stderr).toContain(`there is no key file at ${keyFile} and SESAME_MASTER_KEY is not set`);
    expect(r.stderr).toContain(`Restore the key file from your backup to ${keyFile}`);
    expect(r.stdout).toBe('');
    expect(existsSync(keyFile)).toBe(false);
  });

  it('an older database with sealed secrets: no key is refused, a wrong key is refused, the right one is recorded', async () => {
    const dataDir = newDataDir();
    const key = randomBytes(32).toString('base64');
    await olderDatabase(dataDir, key);
    const keyFile = join(dataDir, 'master.key');

    const none = await sesame(dataDir, ['start', '--port', String(await freePort()), '--no-smtp']);
    expect(none.code, none.stderr).toBe(2);
    expect(none.stderr).toContain('error [master_key_missing]');
    expect(none.stderr).toContain(keyFile);
    expect(existsSync(keyFile)).toBe(false); // the old behaviour made a new key here

    const wrong = await sesame(dataDir, ['start', '--port', String(await freePort()), '--no-smtp'], {
      SESAME_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    expect(wrong.code, wrong.stderr).toBe(2);
    expect(wrong.stderr).toContain(
      'error [master_key_mismatch]: SESAME_MASTER_KEY is set, but it is not the master key',
    );
    expect(wrong.stdout).toBe('');

    const right = await serveForCli({ ...base, SESAME_DATA_DIR: dataDir, SESAME_MASTER_KEY: key });
    expect((await sesame(dataDir, ['emails', 'list'])).code).toBe(0);
    await right.stop();
    // Recorded: from now on a wrong key is refused by the check value even without reading a secret.
    const later = await sesame(dataDir, ['start', '--port', String(await freePort()), '--no-smtp'], {
      SESAME_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    expect(later.code).toBe(2);
    expect(later.stderr).toContain('master_key_mismatch');
  });

  it('a key lost for good: init --replace-lost-master-key makes a new one and names the secrets lost with the old', async () => {
    const dataDir = newDataDir();
    await olderDatabase(dataDir, randomBytes(32).toString('base64'));
    const r = await sesame(dataDir, ['init', '--replace-lost-master-key']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('2 stored secret(s) were sealed under the lost key and cannot be recovered:');
    expect(r.stdout).toMatch(/connection keys \(conn_\w+\): rotate its access keys with `sesame aws rotate-keys keys`/);
    expect(r.stdout).toMatch(/webhook http:\/\/127\.0\.0\.1:9\/hook \(wh_\w+\): remove it and add it again/);
    expect(mode(join(dataDir, 'master.key'))).toBe('600');
    const server = await serveForCli({ ...base, SESAME_DATA_DIR: dataDir });
    try {
      expect((await sesame(dataDir, ['emails', 'list'])).code).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('a data directory an older version left readable by everyone is made owner-only', async () => {
    const dataDir = newDataDir();
    expect((await sesame(dataDir, ['init'])).code).toBe(0);
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'sesame.db'), 0o644);
    await (await serveForCli({ ...base, SESAME_DATA_DIR: dataDir })).stop();
    expect(mode(dataDir)).toBe('700');
    expect(mode(join(dataDir, 'sesame.db'))).toBe('600');
  });
});
