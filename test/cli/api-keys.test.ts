import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createContainer } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import { runCli, serveInProcess } from '../helpers/cli.js';

/** `sesame api-keys` with scopes and connections, through the API of a running server. */
const dataDir = mkdtempSync(join(tmpdir(), 'sesame-keys-cli-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  SESAME_DATA_DIR: dataDir,
  SESAME_CONFIG_DIR: join(dataDir, 'config'),
  NODE_ENV: 'test',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
delete env.SESAME_SANDBOX;
delete env.SESAME_URL;
delete env.SESAME_TOKEN;
const sesame = (...args: string[]) => runCli(env, args);

let c: Awaited<ReturnType<typeof createContainer>>;
let server: Awaited<ReturnType<typeof serveInProcess>>;

beforeAll(async () => {
  c = await createContainer(loadConfig({ SESAME_DATA_DIR: dataDir, SESAME_ALLOW_DEFAULT_CHAIN: 'true' }), {
    logger: createLogger('silent'),
  });
  const ws = await c.workspaces.create('default', 'test');
  await c.connections.create(ws.id, { name: 'prod', region: 'us-east-1', mode: 'default_chain' }, 'test');
  server = await serveInProcess(c, dataDir, ws.id);
});

afterAll(async () => {
  await server?.close();
  await c?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('sesame api-keys', () => {
  it('creates a key with scopes and connections, lists them, and changes them', async () => {
    const made = await sesame(
      '--json',
      'api-keys',
      'create',
      '--name',
      'ci',
      '--scope',
      'send',
      '--connection',
      'prod',
    );
    expect(made.code, made.stderr).toBe(0);
    const key = JSON.parse(made.stdout);
    const prod = (await c.repos.connections.find((await c.workspaces.get('default')).id, 'prod'))!;
    expect(key).toMatchObject({ scopes: ['send'], connectionIds: [prod.id] });

    const list = await sesame('api-keys', 'list');
    expect(list.stdout).toMatch(new RegExp(`${key.id}.*ci.*send.*${prod.id}`));

    const up = await sesame('api-keys', 'update', key.id, '--scope', 'send,read', '--all-connections');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain('send, read on every connection');

    const bad = await sesame('api-keys', 'create', '--scope', 'root');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error [validation_failed]');
  });
});
