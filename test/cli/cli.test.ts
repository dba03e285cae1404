import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, type RunningServer, runCli, serveForCli, serveSandbox } from '../helpers/cli.js';

/**
 * The CLI end to end, as a person types it: a sandbox served by its own process, then
 * `init` → `sesame start` → `aws setup` (non-interactive) → deploy the quick-create link →
 * `aws setup --role-arn` → `aws test`. Every resource command goes through the server's HTTP API.
 */
const root = join(import.meta.dirname, '..', '..');
const dataDir = mkdtempSync(join(tmpdir(), 'sesame-cli-'));
const env = {
  ...process.env,
  SESAME_DATA_DIR: dataDir,
  SESAME_CONFIG_DIR: join(dataDir, 'config'),
  SESAME_SANDBOX: 'true',
  NODE_ENV: 'test',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
const cli = ['--import', 'tsx', join(root, 'src/cli/main.ts')];

/** Run the CLI as a person would, without blocking the test runner's event loop. */
const sesame = (...args: string[]) => sesameWith({}, ...args);

/** Everything the CLI printed in this file: no JSON log line may appear in any of it. */
const printed: string[] = [];

async function sesameWith(extraEnv: Record<string, string>, ...args: string[]): Promise<CliResult> {
  const r = await runCli({ ...env, ...extraEnv }, args);
  printed.push(r.stdout, r.stderr);
  return r;
}

/** Lines of the tables in some output (box-drawing borders). */
const tableLines = (out: string) => out.split('\n').filter((l) => /^[│┌└├]/.test(l));

async function waitUntil(fn: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let sandbox: Awaited<ReturnType<typeof serveSandbox>> | undefined;
/** The server the commands talk to: at first without a send worker, so a queued message stays queued. */
let server: RunningServer | undefined;

beforeAll(async () => {
  sandbox = await serveSandbox(env);
});

afterAll(async () => {
  await server?.stop();
  await sandbox?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('sesame CLI', () => {
  it('init creates the workspace, the first key and a master key, once', async () => {
    const first = await sesame('init');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/API key \(shown once, store it now\): ses_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}/);
    expect(first.stdout).toContain(join(dataDir, 'master.key'));
    const again = await sesame('init');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Already initialised');
    expect(again.stdout).not.toMatch(/ses_[A-Za-z0-9]{8}_/);
    // The local CLI token: owner-only, and the commands below need no login.
    expect((statSync(join(dataDir, 'cli-token')).mode & 0o777).toString(8)).toBe('600');
    server = await serveForCli(env, { worker: false });
  });

  it('connects an account the keyless way without a single prompt', async () => {
    const setup = await sesame(
      '--json',
      'aws',
      'setup',
      '--mode',
      'role',
      '--name',
      'prod',
      '--region',
      'eu-west-1',
      '--send-domain',
      'example.com',
    );
    expect(setup.code, setup.stderr).toBe(0);
    const conn = JSON.parse(setup.stdout);
    expect(conn.status).toBe('pending_role');
    expect(conn.onboarding.quickCreateUrl).toMatch(
      /\/cloudformation\/home\?region=eu-west-1#\/stacks\/quickcreate\?templateURL=/,
    );

    const deploy = await sesame('--json', 'sandbox', 'deploy', conn.onboarding.quickCreateUrl);
    expect(deploy.code, deploy.stderr).toBe(0);
    const roleArn = JSON.parse(deploy.stdout).outputs.RoleArn;
    expect(roleArn).toBe('arn:aws:iam::222222222222:role/SesameSES-prod');

    // A second connection: the first stays the workspace's default, so sends naming none still work.
    const second = JSON.parse(
      (await sesame('--json', 'aws', 'setup', '--mode', 'role', '--name', 'second', '--region', 'eu-west-1')).stdout,
    );
    const secondRole = JSON.parse(
      (await sesame('--json', 'sandbox', 'deploy', second.onboarding.quickCreateUrl)).stdout,
    ).outputs.RoleArn;
    const secondDone = await sesame('aws', 'setup', '--connection', 'second', '--role-arn', secondRole);
    expect(secondDone.code, secondDone.stderr).toBe(0);
    expect(secondDone.stdout).not.toContain('is its default');

    const finish = await sesame('aws', 'setup', '--connection', 'prod', '--role-arn', roleArn);
    expect(finish.code, finish.stderr).toBe(0);
    expect(finish.stdout).toMatch(/PASS\s+│ external_id_required/);
    expect(finish.stdout).toMatch(/WARN\s+│ ses_production_access/);
    expect(finish.stdout).toContain('Connection prod');

    const test = await sesame('--json', 'aws', 'test', 'prod');
    expect(test.code).toBe(0);
    expect(JSON.parse(test.stdout).status).toBe('warn');

    // Piped: whole lines, no colour. A forced width (COLUMNS) wraps; FORCE_COLOR colours unless NO_COLOR.
    const piped = await sesame('aws', 'test', 'prod');
    expect(piped.stdout).not.toContain('\x1b[');
    expect(Math.max(...tableLines(piped.stdout).map((l) => l.length))).toBeGreaterThan(80);
    for (const args of [['aws', 'test', 'prod'], ['audit']]) {
      const narrow = await sesameWith({ COLUMNS: '80' }, ...args);
      expect(narrow.code, narrow.stderr).toBe(0);
      expect(tableLines(narrow.stdout).length).toBeGreaterThan(3);
      for (const l of tableLines(narrow.stdout)) expect(l.length, l).toBeLessThanOrEqual(80);
    }
    expect((await sesameWith({ FORCE_COLOR: '1' }, 'aws', 'test', 'prod')).stdout).toContain('\x1b[32mPASS\x1b[39m');
    expect((await sesameWith({ FORCE_COLOR: '1', NO_COLOR: '1' }, 'aws', 'test', 'prod')).stdout).not.toContain(
      '\x1b[',
    );

    const list = await sesame('aws', 'list');
    expect(list.stdout).toMatch(/prod\s+│ role\s+│ eu-west-1\s+│ active/);

    const audit = JSON.parse((await sesame('--json', 'audit', '--connection', 'prod', '--action', 'sts.*')).stdout);
    expect(audit.entries.some((e: any) => e.action === 'sts.assume_role' && e.outcome === 'ok')).toBe(true);

    const tf = await sesame('aws', 'template', 'prod', '--format', 'terraform');
    expect(tf.stdout).toContain('resource "aws_iam_role" "sesame"');
  });

  it('sends, lists, shows and cancels messages, and manages the suppression list', async () => {
    expect((await sesame('sandbox', 'verify-identity', 'example.com', '--region', 'eu-west-1')).code).toBe(0);
    const file = join(dataDir, 'report.csv');
    writeFileSync(file, 'a,b\n1,2\n');
    const sent = await sesame(
      '--json',
      'send',
      '--from',
      'Acme <hello@example.com>',
      '--to',
      'ann@customer.test',
      '--subject',
      'Report',
      '--text',
      'Attached.',
      '--attach',
      file,
      '--tag',
      'kind=report',
    );
    expect(sent.code, sent.stderr).toBe(0);
    const { id, status } = JSON.parse(sent.stdout);
    expect(status).toBe('queued');
    const list = await sesame('emails', 'list', '--tag', 'kind=report');
    expect(list.stdout).toContain(id);
    expect(list.stdout).toMatch(/queued\s+│ ann@customer\.test/);
    const show = JSON.parse((await sesame('--json', 'emails', 'show', id)).stdout);
    expect(show).toMatchObject({ id, from: '"Acme" <hello@example.com>', subject: 'Report', tags: { kind: 'report' } });
    expect((await sesame('emails', 'cancel', id)).stdout).toMatch(/status\s+cancelled/);
    for (const st of [
      'queued',
      'sending',
      'sent',
      'failed',
      'suppressed',
      'cancelled',
      'delayed',
      'delivered',
      'bounced',
      'complained',
      'rejected',
    ]) {
      const listed = await sesame('emails', 'list', '--status', st);
      expect(listed.code, `${st}: ${listed.stderr}`).toBe(0);
    }
    expect((await sesame('emails', 'list', '--status', 'cancelled')).stdout).toContain(id);
    const typo = await sesame('emails', 'list', '--stauts', 'sent');
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('Did you mean --status?');

    const tooMany = await sesame(
      'send',
      '--from',
      'hello@example.com',
      '--to',
      ...Array.from({ length: 51 }, (_, i) => `r${i}@customer.test`),
      '--subject',
      's',
      '--text',
      't',
    );
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toContain('error [too_many_recipients]');
    const unverified = await sesame(
      'send',
      '--from',
      'hello@elsewhere.test',
      '--to',
      'ann@customer.test',
      '--subject',
      's',
      '--text',
      't',
    );
    expect(unverified.stderr).toContain('error [from_not_allowed]'); // the connection may send only from example.com
    expect(unverified.stderr).toMatch(/hint: .*sesame aws update <connection> --send-domain/);

    expect((await sesame('suppressions', 'add', 'gone@customer.test', '--reason', 'bounce')).code).toBe(0);
    const csv = join(dataDir, 'supp.csv');
    writeFileSync(csv, 'email,reason\nx@customer.test,complaint\nnot-an-address,bounce\n');
    const imported = await sesame('suppressions', 'import', csv);
    expect(imported.stdout).toContain('Imported 1, already present 0, refused 1.');
    expect(imported.code).toBe(1);
    const exported = (await sesame('suppressions', 'export')).stdout;
    expect(exported.split('\n')[0]).toBe('email,reason,source,created_at');
    expect(exported).toContain('gone@customer.test,bounce,api'); // added through the API
    expect(exported).toContain('x@customer.test,complaint,import');
    const suppressed = JSON.parse(
      (
        await sesame(
          '--json',
          'send',
          '--from',
          'hello@example.com',
          '--to',
          'gone@customer.test',
          '--subject',
          's',
          '--text',
          't',
        )
      ).stdout,
    );
    expect(suppressed.status).toBe('suppressed');
    const notSent = await sesame(
      'send',
      '--from',
      'hello@example.com',
      '--to',
      'gone@customer.test',
      '--subject',
      's',
      '--text',
      't',
    );
    expect(notSent.code).toBe(1);
    expect(notSent.stderr).toContain(
      'Not sent: every recipient is on the suppression list: gone@customer.test (bounce).',
    );
    expect(notSent.stderr).toContain('sesame suppressions remove gone@customer.test');
    expect(notSent.stdout).not.toContain('Accepted');
  });

  it('wires SES events with `aws events`; a send to the bounce simulator ends bounced, and its recipient suppressed', async () => {
    // From here on the server sends: the same data directory, now with its worker.
    await server?.stop();
    server = await serveForCli({ ...env, SESAME_WORKER_POLL_MS: '50' });
    {
      const wired = await sesame('aws', 'events', 'prod');
      expect(wired.code, wired.stderr).toBe(0);
      expect(wired.stdout).toMatch(/SNS topic\s+arn:aws:sns:eu-west-1:222222222222:sesame-events-conn_/);
      expect(wired.stdout).toMatch(/subscription\s+confirmed/);
      expect(wired.stderr).toContain('plain HTTP'); // the honest warning about an http:// public URL
      const test = JSON.parse((await sesame('--json', 'aws', 'test', 'prod')).stdout);
      expect(test.checks.find((c: { id: string }) => c.id === 'events')).toMatchObject({ status: 'pass' });

      const sent = JSON.parse(
        (
          await sesame(
            '--json',
            'send',
            '--from',
            'hello@example.com',
            '--to',
            'bounce@simulator.amazonses.com',
            '--subject',
            's',
            '--text',
            't',
          )
        ).stdout,
      );
      await waitUntil(
        async () => JSON.parse((await sesame('--json', 'emails', 'show', sent.id)).stdout).status === 'bounced',
        'the bounce to arrive',
      );
      const shown = await sesame('emails', 'show', sent.id);
      expect(shown.stdout).toMatch(/status\s+bounced/);
      expect(shown.stdout).toContain('Events:');
      expect(shown.stdout).toMatch(
        /bounce \(Permanent\/General\) bounce@simulator\.amazonses\.com 5\.1\.1: smtp; 550 5\.1\.1 user unknown/,
      );
      const supp = await sesame('suppressions', 'list');
      expect(supp.stdout).toMatch(/bounce@simulator\.amazonses\.com\s+│ bounce/);
    }
  });

  it('adds a domain, prints the records as a table and a zone snippet, and verifies once they are published', async () => {
    const add = await sesame(
      'domains',
      'add',
      'example.net',
      '--connection',
      'prod',
      '--dmarc-email',
      'dmarc@example.net',
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(
      /MISSING\s+│ CNAME\s+│ \w{32}\._domainkey\.example\.net\s+│ \w{32}\.dkim\.amazonses\.com/,
    );
    expect(add.stdout).toMatch(/MISSING\s+│ MX\s+│ mail\.example\.net\s+│ 10 feedback-smtp\.eu-west-1\.amazonses\.com/);
    expect(add.stdout).toContain('As a zone-file snippet, ready to paste:');
    expect(add.stdout).toMatch(
      /_dmarc\.example\.net\.\s+300 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@example\.net;"/,
    );
    const zone = (await sesame('domains', 'show', 'example.net', '--zone')).stdout;
    expect(zone.trim().split('\n')).toHaveLength(6);
    const file = join(dataDir, 'example.net.zone');
    writeFileSync(file, zone);
    expect((await sesame('sandbox', 'dns', 'load', file)).stdout).toContain('Published 6 records.');
    const verify = await sesame('domains', 'verify', 'example.net');
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/status\s+verified/);
    expect(verify.stdout).not.toContain('MISSING');
    // The README's own flow ends clean: the sandbox DNS serves amazonses.com's SPF record.
    expect(verify.stderr).not.toContain('include:amazonses.com');
    expect(verify.stderr).not.toContain('warning');
    expect(verify.stdout).toContain('Note: Connection prod may now send from *@example.com, *@example.net.');

    // A connection that could send from any verified identity is narrowed by its first verified domain: it says so.
    expect((await sesame('domains', 'add', 'example.org', '--connection', 'second')).code).toBe(0);
    const orgZone = join(dataDir, 'example.org.zone');
    writeFileSync(orgZone, (await sesame('domains', 'show', 'example.org', '--zone')).stdout);
    expect((await sesame('sandbox', 'dns', 'load', orgZone)).code).toBe(0);
    const narrowed = await sesame('domains', 'verify', 'example.org');
    expect(narrowed.stdout).toContain('Note: Connection second may now send only from *@example.org');
    expect(JSON.parse((await sesame('--json', 'aws', 'show', 'second')).stdout).sendDomains).toEqual(['example.org']);
    const list = await sesame('domains', 'list');
    expect(list.stdout).toMatch(
      /example\.net\s+│ domain\s+│ verified\s+│ SUCCESS\s+│ mail\.example\.net SUCCESS\s+│ 0/,
    );
    const removed = await sesame('domains', 'remove', 'example.net');
    expect(removed.stdout).toContain('Removed example.net and its SES identity.');
  });

  it('manages API keys and shows errors as code, message and hint, never a stack trace', async () => {
    const created = JSON.parse((await sesame('--json', 'api-keys', 'create', '--name', 'ci')).stdout);
    expect(created.key).toMatch(/^ses_/);
    const list = await sesame('api-keys', 'list');
    expect(list.stdout).toContain(`${created.prefix}…${created.last4}`);
    expect(list.stdout).not.toContain(created.key);
    expect((await sesame('api-keys', 'revoke', created.id)).code).toBe(0);

    const missing = await sesame('aws', 'test', 'does-not-exist');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error [not_found]');
    expect(missing.stderr).toContain('hint:');
    expect(missing.stderr).not.toMatch(/\n\s+at /);

    const invalid = await sesame('aws', 'setup', '--mode', 'role', '--name', 'x', '--region', 'Europe');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('error [validation_failed]: Invalid input: --region: must look like eu-west-1');

    // A typo in a required option gets its did-you-mean, not "required option not specified".
    const typo = await sesame(
      'send',
      '--from',
      'a@example.com',
      '--to',
      'b@example.com',
      '--subjct',
      's',
      '--text',
      't',
    );
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain("unknown option '--subjct'");
    expect(typo.stderr).toContain('Did you mean --subject?');
    const typo2 = await sesame('domains', 'add', 'example.info', '--conection', 'prod');
    expect(typo2.stderr).toContain('Did you mean --connection?');
    const noSubject = await sesame('send', '--from', 'a@example.com', '--to', 'b@example.com', '--text', 't');
    expect(noSubject.code).toBe(1);
    expect(noSubject.stderr).toContain("required option '--subject <text>' not specified");

    const noMode = await sesame('aws', 'setup', '--name', 'y');
    expect(noMode.code).toBe(1);
    expect(noMode.stderr).toContain('--mode is required');

    const noKey = await sesame('aws', 'setup', '--mode', 'access_keys', '--name', 'k', '--region', 'eu-west-1');
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('--access-key-id <AKIA…> is required for the access_keys mode');
    const noSecret = await sesame('aws', 'setup', '--mode', 'secrets_manager', '--name', 's', '--region', 'eu-west-1');
    expect(noSecret.stderr).toContain('--secret-arn <arn> is required for the secrets_manager mode');

    // A role that does not exist: the report says what failed, in words; no log line in JSON.
    const broken = await sesame(
      'aws',
      'setup',
      '--mode',
      'role',
      '--name',
      'broken',
      '--region',
      'eu-west-1',
      '--role-arn',
      'arn:aws:iam::222222222222:role/DoesNotExist',
    );
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/FAIL\s+│ role_assumable/);
    expect(broken.stderr).not.toContain('{"level"');
    expect((await sesame('aws', 'disconnect', 'broken')).code).toBe(0);
  });

  it('never creates a data directory for a read-only command, and names the one it looked in', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sesame-empty-'));
    try {
      const { SESAME_DATA_DIR: _d, SESAME_SANDBOX: _s, ...rest } = env;
      const r = spawnSync(
        process.execPath,
        [
          '--import',
          createRequire(join(root, 'package.json')).resolve('tsx'),
          join(root, 'src/cli/main.ts'),
          'emails',
          'list',
        ],
        {
          env: rest,
          cwd: empty,
          encoding: 'utf8',
        },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`There is no Sesame workspace in ${join(empty, 'data')}`);
      expect(r.stderr).toContain('--data-dir');
      expect(existsSync(join(empty, 'data'))).toBe(false);
      expect(readdirSync(empty)).toEqual([]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('printed no JSON log line in any command above', () => {
    expect(printed.length).toBeGreaterThan(20);
    for (const out of printed) expect(out).not.toContain('{"level"');
  });

  it("the server's master key decides: the CLI's own is not read; a server refuses a wrong one, naming the setting", async () => {
    const listed = await sesameWith({ SESAME_MASTER_KEY: 'too-short' }, 'aws', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/prod\s+│ role/);
    const r = spawnSync(process.execPath, [...cli, 'start', '--port', '0', '--no-smtp'], {
      env: { ...env, SESAME_MASTER_KEY: 'too-short' },
      cwd: root,
      encoding: 'utf8',
      input: '',
      timeout: 60_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('SESAME_MASTER_KEY');
    expect(r.stderr).toContain('config_invalid');
  });
});
