import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox } from '../../src/sandbox/index.js';
import { EXTERNAL_ID, ROLE_TEMPLATE, rejectsWith, startSandbox, type Harness } from './helpers.js';

let h: Harness;
const PLATFORM_ARN = 'arn:aws:iam::111111111111:user/sesame-platform';
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${h.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  h = await startSandbox();
  await h.s3(h.platform).send(
    new PutObjectCommand({
      Bucket: 'sesame-templates',
      Key: 'role.yaml',
      Body: ROLE_TEMPLATE,
      ContentType: 'text/yaml',
    }),
  );
});
afterAll(() => h.sandbox.close());

describe('deploying through the admin HTTP API (what the console page does)', () => {
  test('creates the stack from the sandbox S3 URL, then AssumeRole works through it', async () => {
    const res = await post('/_sandbox/stacks', {
      templateURL: `${h.url}/sesame-templates/role.yaml`,
      stackName: 'sesame-conn',
      parameters: { ExternalId: EXTERNAL_ID, TrustedPrincipalArn: PLATFORM_ARN },
      capabilities: ['CAPABILITY_NAMED_IAM'],
    });
    expect(res.status).toBe(201);
    const out = (await res.json()) as { stackId: string; outputs: Record<string, string> };
    expect(out.stackId).toMatch(/^arn:aws:cloudformation:us-east-1:222222222222:stack\/sesame-conn\//);
    await h.assume({ RoleArn: out.outputs['RoleArn']!, ExternalId: EXTERNAL_ID });
    const stacks = (await (await fetch(`${h.url}/_sandbox/stacks`)).json()) as { stackName: string }[];
    expect(stacks.map((s) => s.stackName)).toContain('sesame-conn');
    const del = await fetch(`${h.url}/_sandbox/stacks/sesame-conn`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    await rejectsWith(h.assume({ RoleArn: out.outputs['RoleArn']!, ExternalId: EXTERNAL_ID }), 'AccessDenied');
  });

  test('refuses templates outside the sandbox S3, missing capabilities and unsupported types', async () => {
    const outside = await post('/_sandbox/stacks', {
      templateURL: 'https://example.com/role.yaml',
      stackName: 's',
      capabilities: ['CAPABILITY_NAMED_IAM'],
    });
    expect(outside.status).toBe(400);
    expect(((await outside.json()) as { error: { message: string } }).error.message).toMatch(/sandbox's S3/);
    const noCaps = await post('/_sandbox/stacks', {
      templateBody: ROLE_TEMPLATE,
      stackName: 's',
      parameters: { ExternalId: EXTERNAL_ID, TrustedPrincipalArn: PLATFORM_ARN },
    });
    expect(await noCaps.json()).toEqual({
      error: { code: 'InsufficientCapabilitiesException', message: 'Requires capabilities : [CAPABILITY_NAMED_IAM]' },
    });
    const lambda = await post('/_sandbox/stacks', {
      templateBody: 'Resources:\n  F:\n    Type: AWS::Lambda::Function\n',
      stackName: 's',
    });
    expect(((await lambda.json()) as { error: { message: string } }).error.message).toMatch(/AWS::Lambda::Function/);
  });

  test('template summary lists the parameters for the quick-create form', async () => {
    const res = await post('/_sandbox/template-summary', { templateURL: `${h.url}/sesame-templates/role.yaml` });
    const summary = (await res.json()) as { parameters: { name: string; noEcho: boolean }[]; capabilities: string[] };
    expect(summary.parameters.map((p) => p.name)).toEqual([
      'ExternalId',
      'TrustedPrincipalArn',
      'RoleName',
      'MaxSessionDuration',
      'SendFromDomains',
    ]);
    expect(summary.parameters[0]!.noEcho).toBe(true);
    expect(summary.capabilities).toEqual(['CAPABILITY_NAMED_IAM']);
  });

  test('the console page is clearly labelled and asks for the IAM acknowledgement', async () => {
    const page = await (await fetch(`${h.url}/cloudformation/home?region=us-east-1`)).text();
    expect(page).toContain('Sesame local AWS sandbox — not AWS');
    expect(page).toContain('I acknowledge that AWS CloudFormation might create IAM resources with custom names.');
    expect(page).toContain('/_sandbox/stacks');
  });

  test('admin API: status, mailbox, identities, account; cross-origin writes refused', async () => {
    const status = (await (await fetch(`${h.url}/_sandbox/status`)).json()) as {
      label: string;
      platform: { arn: string };
    };
    expect(status.label).toMatch(/not AWS/);
    expect(status.platform.arn).toBe(PLATFORM_ARN);
    expect((await post('/_sandbox/identities', { identity: 'example.com' })).status).toBe(201);
    const acct = await fetch(`${h.url}/_sandbox/account`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ productionAccessEnabled: true }),
    });
    expect(((await acct.json()) as { productionAccessEnabled: boolean; max24HourSend: number }).max24HourSend).toBe(
      50000,
    );
    expect((await post('/_sandbox/users', { userName: 'x' }, { origin: 'https://evil.test' })).status).toBe(403);
    expect(
      (
        await fetch(`${h.url}/_sandbox/users`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: '{"userName":"x"}',
        })
      ).status,
    ).toBe(415);
    const created = (await (await post('/_sandbox/access-keys', { userName: 'dev' })).json()) as {
      accessKeyId: string;
      secretAccessKey: string;
    };
    expect(created.accessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
    expect(created.secretAccessKey).toHaveLength(40);
    expect((await fetch(`${h.url}/_sandbox/mailbox`)).status).toBe(200);
    expect((await fetch(`${h.url}/_sandbox/nope`)).status).toBe(404);
  });
});

describe('persistence', () => {
  test('state survives a restart; endpoint.json exists only while listening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sesame-sandbox-'));
    try {
      const a = createSandbox({ dataDir: dir });
      const url = await a.listen(0);
      const endpoint = JSON.parse(readFileSync(join(dir, 'sandbox', 'endpoint.json'), 'utf8')) as {
        url: string;
        pid: number;
      };
      expect(endpoint).toMatchObject({ url, pid: process.pid });
      const creds = a.admin.platformCredentials();
      a.admin.deployTemplate({
        templateBody: ROLE_TEMPLATE,
        stackName: 'keep',
        parameters: { ExternalId: EXTERNAL_ID, TrustedPrincipalArn: PLATFORM_ARN },
        capabilities: ['CAPABILITY_NAMED_IAM'],
      });
      await a.close();
      expect(existsSync(join(dir, 'sandbox', 'endpoint.json'))).toBe(false);
      const b = createSandbox({ dataDir: dir });
      expect(b.admin.platformCredentials()).toEqual(creds);
      expect(b.admin.listStacks().map((s) => s.stackName)).toEqual(['keep']);
      expect(b.admin.getRole('arn:aws:iam::222222222222:role/SesameSending')).toBeDefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
