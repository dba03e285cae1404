import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { parseQuickCreateUrl, sandboxCommand } from '../../src/cli/commands/sandbox.js';
import { createSandbox } from '../../src/sandbox/index.js';
import { EXTERNAL_ID, ROLE_TEMPLATE } from './helpers.js';

let dir: string;
let stdout: string;
let stderr: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sesame-cli-'));
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  process.exitCode = undefined;
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = undefined;
});

async function cli(...args: string[]): Promise<void> {
  const program = new Command('sesame').option('--json').exitOverride();
  program.addCommand(sandboxCommand({ dataDir: () => dir }));
  await program.parseAsync(['node', 'sesame', 'sandbox', ...args]);
}

describe('sesame sandbox (offline: acts on the state file)', () => {
  test('verify-identity, set-account, create-user, put-secret, status', async () => {
    await cli('verify-identity', 'example.com', '--json');
    expect(JSON.parse(stdout)).toMatchObject({ identity: 'example.com', type: 'DOMAIN', verified: true });
    stdout = '';
    await cli('set-account', '--production', '--max-send-rate', '20', '--json');
    expect(JSON.parse(stdout)).toMatchObject({ productionAccessEnabled: true, maxSendRate: 20, max24HourSend: 50000 });
    stdout = '';
    await cli('create-user', 'dev');
    expect(stdout).toMatch(/accessKeyId\s+AKIA[A-Z0-9]{16}/);
    stdout = '';
    await cli('put-secret', 'keys', '{"a":1}', '--json');
    expect(JSON.parse(stdout).arn).toMatch(/^arn:aws:secretsmanager:us-east-1:111111111111:secret:keys-/);
    stdout = '';
    await cli('status', '--json');
    expect(JSON.parse(stdout)).toMatchObject({ running: false, users: 2 });
    // State persisted: a sandbox started later sees it.
    expect(createSandbox({ dataDir: dir }).admin.getAccount().maxSendRate).toBe(20);
  });

  test('deploy from a file; errors print code and message without a stack', async () => {
    const file = join(dir, 'role.yaml');
    writeFileSync(file, ROLE_TEMPLATE);
    await cli(
      'deploy',
      file,
      '--stack-name',
      'sesame',
      '--param',
      `ExternalId=${EXTERNAL_ID}`,
      '--param',
      'TrustedPrincipalArn=arn:aws:iam::111111111111:user/sesame-platform',
    );
    expect(stdout).toMatch(/output RoleArn\s+arn:aws:iam::222222222222:role\/SesameSending/);
    await cli(
      'deploy',
      file,
      '--stack-name',
      'other',
      '--capabilities',
      'CAPABILITY_IAM',
      '--param',
      `ExternalId=${EXTERNAL_ID}`,
      '--param',
      'TrustedPrincipalArn=arn:aws:iam::111111111111:user/x',
      '--param',
      'RoleName=Other',
    );
    expect(stderr).toContain(
      'error [validation_failed]: InsufficientCapabilitiesException: Requires capabilities : [CAPABILITY_NAMED_IAM]',
    );
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(process.exitCode).toBe(1);
  });

  test('set-account rejects bad values', async () => {
    await cli('set-account', '--enforcement', 'BROKEN');
    expect(stderr).toMatch(/enforcementStatus must be one of HEALTHY, PROBATION, SHUTDOWN/);
    expect(process.exitCode).toBe(1);
  });
});

describe('sesame sandbox (running: acts over the admin API)', () => {
  test('deploys a quick-create URL and reads the mailbox of the running sandbox', async () => {
    const sandbox = createSandbox({ dataDir: dir });
    const url = await sandbox.listen(0);
    try {
      // Upload the template the way Sesame would, then use the console URL it would print.
      const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
      const p = sandbox.admin.platformCredentials();
      await new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: p }).send(
        new PutObjectCommand({ Bucket: 'sesame-templates', Key: 't/role.yaml', Body: ROLE_TEMPLATE }),
      );
      const quick = `${url}/cloudformation/home?region=us-east-1#/stacks/quickcreate?templateURL=${encodeURIComponent(`${url}/sesame-templates/t/role.yaml`)}&stackName=sesame-q&param_ExternalId=${EXTERNAL_ID}&param_TrustedPrincipalArn=${encodeURIComponent(p.arn)}`;
      expect(parseQuickCreateUrl(quick)).toMatchObject({
        stackName: 'sesame-q',
        region: 'us-east-1',
        parameters: { ExternalId: EXTERNAL_ID },
      });
      await cli('deploy', quick, '--json');
      expect(JSON.parse(stdout).outputs.RoleArn).toBe('arn:aws:iam::222222222222:role/SesameSending');
      expect(sandbox.admin.listStacks().map((s) => s.stackName)).toEqual(['sesame-q']);
      stdout = '';
      await cli('mailbox');
      expect(stdout).toContain('(none)');
      stdout = '';
      await cli('status', '--json');
      expect(JSON.parse(stdout)).toMatchObject({ running: true, pid: process.pid, url });
    } finally {
      await sandbox.close();
    }
  });
});
