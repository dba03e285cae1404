import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, runCli, serveForCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';

/**
 * The CLI is a client: the server's settings decide. The server here runs in sandbox mode with
 * SESAME_WEBHOOKS_ALLOW_PRIVATE=true; the shell the commands run in has neither (a person's second
 * terminal), and the README's commands work as they are.
 */
const root = mkdtempSync(join(tmpdir(), 'sesame-client-'));
const dataDir = join(root, 'data');
const base: NodeJS.ProcessEnv = {
  ...process.env,
  NODE_ENV: 'test',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  SESAME_DATA_DIR: dataDir,
  SESAME_CONFIG_DIR: join(root, 'config'),
};
for (const k of ['SESAME_SANDBOX', 'SESAME_WEBHOOKS_ALLOW_PRIVATE', 'SESAME_URL', 'SESAME_TOKEN', 'SESAME_PORT'])
  delete base[k];
const serverEnv = { ...base, SESAME_WEBHOOKS_ALLOW_PRIVATE: 'true', SESAME_WORKER_POLL_MS: '50' };

const sesame = (...args: string[]) => runCli(base, args);
const sesameWith = (extra: NodeJS.ProcessEnv, ...args: string[]) => runCli({ ...base, ...extra }, args);

async function waitUntil(fn: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let server: RunningServer | undefined;

beforeAll(async () => {
  // `sesame start --sandbox` on a fresh data directory: it initialises, serves the sandbox, and
  // leaves the local CLI token beside the database.
  server = await serveForCli(serverEnv, {
    args: ['--sandbox', '--sandbox-port', String(await freePort()), '--sandbox-dns-port', '0'],
  });
}, 180_000);

afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('the CLI against a server with settings its shell does not have', () => {
  it('connects, tests green, wires events and sends to delivered, without SESAME_SANDBOX in the shell', async () => {
    const setup = await sesame('--json', 'aws', 'setup', '--mode', 'role', '--name', 'prod', '--region', 'us-east-1');
    expect(setup.code, setup.stderr).toBe(0);
    const link = JSON.parse(setup.stdout).onboarding.quickCreateUrl as string;
    const deploy = await sesame('--json', 'sandbox', 'deploy', link);
    expect(deploy.code, deploy.stderr).toBe(0);
    const roleArn = JSON.parse(deploy.stdout).outputs.RoleArn as string;
    const finish = await sesame('aws', 'setup', '--connection', 'prod', '--role-arn', roleArn);
    expect(finish.code, finish.stdout + finish.stderr).toBe(0);
    expect(finish.stdout).toContain('Connection prod');
    // The connection is healthy: the CLI neither asked for AWS credentials nor marked it failing.
    const test = await sesame('--json', 'aws', 'test', 'prod');
    expect(test.code, test.stderr).toBe(0);
    expect(JSON.parse(test.stdout).checks.filter((c: { status: string }) => c.status === 'fail')).toEqual([]);
    expect(JSON.parse((await sesame('--json', 'aws', 'show', 'prod')).stdout).status).toBe('active');

    const wired = await sesame('aws', 'events', 'prod');
    expect(wired.code, wired.stderr).toBe(0);
    expect(wired.stdout).toMatch(/subscription\s+confirmed/);

    expect((await sesame('sandbox', 'verify-identity', 'example.com')).code).toBe(0);
    const sent = await sesame(
      '--json',
      'send',
      '--from',
      'Acme <hello@example.com>',
      '--to',
      'success@simulator.amazonses.com',
      '--subject',
      'Hi',
      '--text',
      'Hello',
    );
    expect(sent.code, sent.stderr).toBe(0);
    const { id } = JSON.parse(sent.stdout) as { id: string };
    await waitUntil(
      async () => JSON.parse((await sesame('--json', 'emails', 'show', id)).stdout).status === 'delivered',
      'the delivery event',
    );
    expect((await sesame('emails', 'list')).stdout).toMatch(new RegExp(`${id}\\s+│ delivered`));
  });

  it('accepts a webhook to a private address because the server allows it', async () => {
    const added = await sesame('webhooks', 'add', 'http://127.0.0.1:9/hook', '--allow-private', '--events', 'bounce');
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('Registered webhook');
    expect(added.stdout).toMatch(/Signing secret \(shown once, store it now\): whsec_/);
    // Without allowPrivate on the webhook the server still refuses it, with its own code.
    const refused = await sesame('webhooks', 'add', 'http://127.0.0.1:9/other');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error [webhook_url_not_allowed]');
  });

  it('a wrong token is refused as unauthorized, with a hint naming the token that was sent', async () => {
    const r = await sesameWith({ SESAME_TOKEN: `ses_${'a'.repeat(8)}_${'b'.repeat(40)}` }, 'aws', 'list');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [unauthorized]');
    expect(r.stderr).toMatch(/hint: .*refused SESAME_TOKEN/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a server that cannot be reached, and no server running, are each said with their own code', async () => {
    const gone = await sesameWith(
      { SESAME_URL: `http://127.0.0.1:${await freePort()}`, SESAME_TOKEN: 'ses_x' },
      'emails',
      'list',
    );
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(
      /error \[server_unreachable\]: Could not reach the Sesame server at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
    expect(gone.stderr).toContain('hint:');

    await server?.stop();
    server = undefined;
    const stopped = await sesame('emails', 'list');
    expect(stopped.code).toBe(2);
    expect(stopped.stderr).toContain(`error [server_not_running]: No Sesame server is running for ${dataDir}.`);
    expect(stopped.stderr).toContain('hint: Start it with `sesame start`');
  });
});
