import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, serveForCli, serveSandbox } from '../helpers/cli.js';
import { skippable } from '../helpers/skip.js';

/**
 * The CLI on a real terminal (a pseudo-terminal from util-linux `script`): `sesame aws setup`
 * choosing the mode, name and region at the prompts, in every mode the server offers; Ctrl-C;
 * progress while IAM propagates; tables at 80 columns and colour.
 */
const root = join(import.meta.dirname, '..', '..');
const dataDir = mkdtempSync(join(tmpdir(), 'sesame-tty-'));
const env = {
  ...process.env,
  SESAME_DATA_DIR: dataDir,
  SESAME_CONFIG_DIR: join(dataDir, 'config'),
  SESAME_SANDBOX: 'true',
  NODE_ENV: 'test',
  TERM: 'xterm',
  COLUMNS: '200',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
const cli = `${process.execPath} --import tsx ${join(root, 'src/cli/main.ts')}`;
let sandboxUrl = '';

async function admin(method: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${sandboxUrl}/_sandbox${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.ok).toBe(true);
}

function run(args: string): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('sh', ['-c', `${cli} ${args}`], { env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (out += String(d)));
    p.on('close', () => resolve(out));
  });
}

let sandbox: Awaited<ReturnType<typeof serveSandbox>> | undefined;
let server: RunningServer | undefined;

beforeAll(async () => {
  sandbox = await serveSandbox(env);
  sandboxUrl = sandbox.url;
  await run('init');
  server = await serveForCli(env);
});

afterAll(async () => {
  await server?.stop();
  await sandbox?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

/** A command on a pseudo-terminal of `cols` columns: what it prints, and keys to type into it. */
function terminal(args: string, opts: { cols?: number; env?: Record<string, string | undefined> } = {}) {
  const p = spawn('script', ['-qefc', `stty cols ${opts.cols ?? 200} rows 50; ${cli} ${args}`, '/dev/null'], {
    env: { ...env, ...opts.env },
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  // Decoded as a stream: a box-drawing character split between two chunks stays one character.
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  return {
    exited,
    get raw() {
      return out;
    },
    get text() {
      return plain(out);
    },
    async waitFor(re: RegExp, what: string) {
      const deadline = Date.now() + 60_000;
      while (!re.test(plain(out))) {
        if (Date.now() > deadline) throw new Error(`no ${what} in: ${plain(out).slice(-800)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async type(keys: string) {
      p.stdin.write(keys);
      await new Promise((r) => setTimeout(r, 200));
    },
  };
}

const DOWN = '\x1b[B';
const CTRL_C = '\x03';
const BACKSPACE = '\x7f';

const noScript = existsSync('/usr/bin/script')
  ? null
  : '/usr/bin/script (util-linux), which gives the CLI a terminal, is missing';
describe.skipIf(noScript)(skippable('sesame aws setup on a terminal', noScript), () => {
  it('asks for the mode, name and region, then waits for the role ARN and tests', { timeout: 90_000 }, async () => {
    const t = terminal('aws setup');
    await t.waitFor(/How should Sesame reach your AWS account\?/, 'mode prompt');
    // The server has not allowed the host's own credentials: that mode is not offered.
    expect(t.text).not.toContain("Sesame host's own credentials");
    await t.type('\r'); // the recommended mode, selected by default
    await t.waitFor(/Connection name/, 'name prompt');
    expect(t.text).toContain('production'); // a placeholder: typing replaces it, nothing to clear
    await t.type('tty-prod\r');
    await t.waitFor(/SES region/, 'region prompt');
    expect(t.text).toMatch(/eu-west-1.*Ireland|Ireland.*eu-west-1|us-east-1/);
    await t.type('\r');
    await t.waitFor(/Paste the RoleArn output of the stack/, 'role ARN prompt');
    expect(t.text).toContain("tty-prod is the workspace's first connection, so it is its default");
    const link = /(http:\/\/127\.0\.0\.1:\d+\/cloudformation\/home\?\S+)/.exec(t.text)?.[1];
    expect(link).toContain('param_ExternalId=');
    expect(link!.startsWith(sandboxUrl)).toBe(true);
    const deployed = await run(`sandbox deploy '${link}'`);
    const roleArn = /arn:aws:iam::222222222222:role\/\S+/.exec(deployed)![0];
    await t.type('not-an-arn\r');
    await t.waitFor(/an IAM role ARN such as/, 'validation message');
    for (let i = 0; i < 12; i++) await t.type(BACKSPACE);
    await t.type(`${roleArn}\r`);
    await t.waitFor(/Overall: WARN/, 'report');
    expect(await t.exited).toBe(0);
    expect(t.text).toMatch(/PASS\s+│ role_assumable/);
    expect(t.text).toContain('Connection tty-prod');
    expect(t.raw).not.toContain('{"level"');
  });

  it(
    'asks for the key id and the secret in access-keys mode, and asks again after a wrong answer',
    { timeout: 90_000 },
    async () => {
      const user = /accessKeyId\s+(AKIA\w+)[\s\S]*secretAccessKey\s+(\S+)/.exec(
        await run('sandbox create-user tty-keys'),
      )!;
      const t = terminal('aws setup');
      await t.waitFor(/How should Sesame reach your AWS account\?/, 'mode prompt');
      await t.type(DOWN);
      await t.type('\r');
      await t.waitFor(/Connection name/, 'name prompt');
      await t.type('tty-prod\r'); // taken by the first test
      await t.waitFor(/already exists; choose another name/, 'name taken');
      for (let i = 0; i < 8; i++) await t.type(BACKSPACE);
      await t.type('tty-keys\r');
      await t.waitFor(/SES region/, 'region prompt');
      await t.type('\r');
      await t.waitFor(/Access key id/, 'key id prompt');
      await t.type('AKIA123\r');
      await t.waitFor(/AKIA followed by 16 characters/, 'key id validation');
      for (let i = 0; i < 7; i++) await t.type(BACKSPACE);
      await t.type(`${user[1]}\r`);
      await t.waitFor(/Secret access key/, 'secret prompt');
      await t.type(`${user[2]}\r`);
      await t.waitFor(/Overall: (PASS|WARN)/, 'report');
      expect(await t.exited).toBe(0);
      expect(t.text).toMatch(/PASS\s+│ credentials/);
      expect(t.text).toContain('Connection tty-keys');
      expect(t.text).not.toContain(user[2]); // the secret is masked as it is typed
      expect(t.text).not.toContain('Invalid input');
    },
  );

  it('asks for the secret ARN in Secrets Manager mode', { timeout: 90_000 }, async () => {
    const t = terminal('aws setup --no-test');
    await t.waitFor(/How should Sesame reach your AWS account\?/, 'mode prompt');
    await t.type(DOWN + DOWN); // role, access keys, Secrets Manager: the host's credentials are not offered
    await t.type('\r');
    await t.waitFor(/Connection name/, 'name prompt');
    await t.type('tty-secret\r');
    await t.waitFor(/SES region/, 'region prompt');
    await t.type('\r');
    await t.waitFor(/ARN of the secret/, 'secret ARN prompt');
    await t.type('sesame-keys\r');
    await t.waitFor(/must be a Secrets Manager secret ARN/, 'secret ARN validation');
    for (let i = 0; i < 11; i++) await t.type(BACKSPACE);
    await t.type('arn:aws:secretsmanager:us-east-1:222222222222:secret:sesame-keys-AbCdEf\r');
    await t.waitFor(/sesameExternalId \(put in the secret\)/, 'the connection');
    expect(await t.exited).toBe(0);
    expect(t.text).toMatch(/mode\s+secrets_manager/);
    expect(t.text).not.toContain('Invalid input');
  });

  it('says "cancelled" and exits 130 on Ctrl-C', { timeout: 60_000 }, async () => {
    const t = terminal('aws setup');
    await t.waitFor(/How should Sesame reach your AWS account\?/, 'mode prompt');
    await t.type('\r');
    await t.waitFor(/Connection name/, 'name prompt');
    await t.type(CTRL_C);
    expect(await t.exited).toBe(130);
    expect(t.text).toMatch(/cancelled/i);
    expect(t.text).not.toContain('error [');
  });
});

describe.skipIf(noScript)(skippable('long waits and tables on a terminal', noScript), () => {
  it('says why the test waits while IAM propagates a new role', { timeout: 90_000 }, async () => {
    const created = await run('--json aws setup --mode role --name tty-slow --no-interactive');
    const link = (JSON.parse(created) as { onboarding: { quickCreateUrl: string } }).onboarding.quickCreateUrl;
    // The new role stays unassumable for a while after the stack creates it, as in real IAM.
    await admin('PUT', '/propagation-delay', { ms: 15_000 });
    const roleArn = /arn:aws:iam::222222222222:role\/\S+/.exec(await run(`sandbox deploy '${link}'`))![0];
    try {
      const t = terminal(`aws setup --connection tty-slow --role-arn ${roleArn}`);
      await t.waitFor(/Overall:/, 'report');
      expect(await t.exited).toBe(0);
      expect(t.text).toMatch(/AssumeRole denied, IAM may still be propagating the new role: retry 1 of 7/);
      expect(t.text).toMatch(/PASS\s+│ role_assumable/);
      expect(t.raw).not.toContain('{"level"');
    } finally {
      await admin('PUT', '/propagation-delay', { ms: 0 });
    }
  });

  it('fits the report and the audit list into 80 columns, in colour unless NO_COLOR', { timeout: 90_000 }, async () => {
    for (const args of ['aws test tty-slow', 'audit --limit 20']) {
      const t = terminal(args, { cols: 80, env: { COLUMNS: undefined } });
      expect(await t.exited, t.text).toBe(0);
      const lines = t.text.split('\n').filter((l) => /[│┌└├]/.test(l));
      expect(lines.length).toBeGreaterThan(3);
      for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    }
    const coloured = terminal('aws test tty-slow');
    await coloured.exited;
    expect(coloured.raw).toMatch(/\x1b\[32mPASS\x1b\[39m/);
    const plainRun = terminal('aws test tty-slow', { env: { NO_COLOR: '1' } });
    await plainRun.exited;
    expect(plainRun.text).toMatch(/PASS\s+│ role_assumable/);
    expect(plainRun.raw).not.toMatch(/\x1b\[3[0-9]m/);
  });
});
