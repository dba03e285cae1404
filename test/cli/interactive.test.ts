import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveSandbox } from '../helpers/cli.js';
import { skippable } from '../helpers/skip.js';

/**
 * `sesame aws setup` on a real terminal (a pseudo-terminal from util-linux `script`): choose the
 * mode, name and region at the prompts, open the printed link, paste the RoleArn, read the report.
 */
const root = join(import.meta.dirname, '..', '..');
const dataDir = mkdtempSync(join(tmpdir(), 'sesame-tty-'));
const env = {
  ...process.env,
  SESAME_DATA_DIR: dataDir,
  SESAME_SANDBOX: 'true',
  NODE_ENV: 'test',
  TERM: 'xterm',
  COLUMNS: '200',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
const cli = `${process.execPath} --import tsx ${join(root, 'src/cli/main.ts')}`;
let sandboxUrl = '';

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

beforeAll(async () => {
  sandbox = await serveSandbox(env);
  sandboxUrl = sandbox.url;
  await run('init');
});

afterAll(async () => {
  await sandbox?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

const noScript = existsSync('/usr/bin/script')
  ? null
  : '/usr/bin/script (util-linux), which gives the CLI a terminal, is missing';
describe.skipIf(noScript)(skippable('sesame aws setup on a terminal', noScript), () => {
  it('asks for the mode, name and region, then waits for the role ARN and tests', async () => {
    const p = spawn('script', ['-qefc', `stty cols 200 rows 50; ${cli} aws setup`, '/dev/null'], {
      env,
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
    const waitFor = async (re: RegExp, what: string) => {
      const deadline = Date.now() + 60_000;
      while (!re.test(plain(out))) {
        if (Date.now() > deadline) throw new Error(`no ${what} in: ${plain(out).slice(-800)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const type = async (keys: string) => {
      p.stdin.write(keys);
      await new Promise((r) => setTimeout(r, 200));
    };

    await waitFor(/How should Sesame reach your AWS account\?/, 'mode prompt');
    await type('\r'); // the recommended mode, selected by default
    await waitFor(/Connection name/, 'name prompt');
    await type('\x15'); // clear the suggested name
    await type('tty-prod\r');
    await waitFor(/SES region/, 'region prompt');
    await type('\r');
    await waitFor(/Paste the RoleArn output of the stack/, 'role ARN prompt');
    const link = /(http:\/\/127\.0\.0\.1:\d+\/cloudformation\/home\?\S+)/.exec(plain(out))?.[1];
    expect(link).toContain('param_ExternalId=');
    expect(link!.startsWith(sandboxUrl)).toBe(true);
    const deployed = await run(`sandbox deploy '${link}'`);
    const roleArn = /arn:aws:iam::222222222222:role\/\S+/.exec(deployed)![0];
    await type('not-an-arn\r');
    await waitFor(/an IAM role ARN such as/, 'validation message');
    for (let i = 0; i < 12; i++) await type('\x7f');
    await type(`${roleArn}\r`);
    await waitFor(/Overall: WARN/, 'report');
    expect(await exited).toBe(0);
    expect(plain(out)).toMatch(/PASS\s+│ role_assumable/);
    expect(plain(out)).toContain('Connection tty-prod');
  });
});
