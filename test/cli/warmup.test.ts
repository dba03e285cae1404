import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createContainer } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import { runCli, serveInProcess } from '../helpers/cli.js';

/**
 * `sesame warmup` as a person types it. The warmup commands need no AWS, so the workspace and a
 * connection are created in process first, the API is served from this process, and only the
 * commands under test are spawned.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'sesame-warmup-cli-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  SESAME_DATA_DIR: dataDir,
  NODE_ENV: 'test',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
delete env.SESAME_SANDBOX; // the warmup commands need no AWS, real or sandboxed

const sesame = (...args: string[]) => runCli(env, args);

let c: Awaited<ReturnType<typeof createContainer>>;
let server: Awaited<ReturnType<typeof serveInProcess>>;

beforeAll(async () => {
  c = await createContainer(loadConfig({ SESAME_DATA_DIR: dataDir, SESAME_ALLOW_DEFAULT_CHAIN: 'true' }), {
    logger: createLogger('silent'),
  });
  {
    const ws = await c.workspaces.create('default', 'test');
    await c.connections.create(
      ws.id,
      { name: 'prod', region: 'us-east-1', mode: 'default_chain', sendDomains: ['example.com', 'other.com'] },
      'test',
    );
    await c.warmup.set(ws.id, 'prod', { doublingDays: 2 }, 'test');
    server = await serveInProcess(c, dataDir, ws.id);
  }
});

afterAll(async () => {
  await server?.close();
  await c?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('sesame warmup', () => {
  it('set prints the new plan; show lists every plan of the connection in a table', async () => {
    const set = await sesame('warmup', 'set', 'prod', '--domain', 'Example.com', '--schedule', '50, 100,200');
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('Created the warmup plan for example.com.');
    expect(set.stdout).toMatch(/^schedule\s+50, 100, 200$/m);
    expect(set.stdout).toMatch(/^today allowance\s+50$/m);
    expect(set.stdout).toMatch(/^ramp\s+ramping$/m);

    const show = await sesame('warmup', 'show', 'prod');
    expect(show.code, show.stderr).toBe(0);
    const lines = show.stdout.split('\n').filter((l) => l.startsWith('│'));
    const cells = lines.map((l) =>
      l
        .split('│')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
    expect(cells).toEqual([
      ['DOMAIN', 'PLAN', 'DAY', 'STEP', 'ALLOWANCE', 'SENT TODAY', 'WAITING', 'RAMP'],
      ['(all)', 'ramp', '0', '0', '50', '0', '0', 'ramping'],
      ['example.com', 'custom', '0', '0', '50', '0', '0', 'ramping'],
    ]);
  });

  it('pause holds the ramp (--json prints the plan); bad input and unknown plans answer with their codes', async () => {
    const paused = await sesame('--json', 'warmup', 'pause', 'prod', '--domain', 'example.com');
    expect(paused.code, paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout)).toMatchObject({
      domain: 'example.com',
      paused: true,
      held: true,
      holdReason: 'paused',
      todayAllowance: 50,
    });

    const bad = await sesame('warmup', 'set', 'prod', '--schedule', '50,-1');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error \[validation_failed\]: The warmup plan is invalid: schedule\.1/m);

    const missing = await sesame('warmup', 'resume', 'prod', '--domain', 'other.com');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error [warmup_not_found]: Connection prod has no warmup plan for other.com.');
    expect(missing.stderr).toMatch(/^hint: Its plans: \(whole connection, no domain\), example\.com\./m);
  });
});
