import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { createContainer, type Container } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import { createSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { waitFor } from '../helpers/harness.js';

/**
 * The worker as its own process, killed with SIGKILL mid-run and stopped with SIGTERM:
 * nothing lost, nothing that SES accepted sent twice.
 */
const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'sesame-worker-'));
const masterKey = randomBytes(32).toString('base64');
let sandbox: Sandbox;
let c: Container;
let env: Record<string, string>;
let workspaceId: string;

function startWorker(): { proc: ChildProcess; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'worker'], {
    env: { ...process.env, ...env },
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, exited };
}

async function submit(n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await c.messages.submit(
      { workspaceId, apiKeyId: null, actor: 'test' },
      { from: 'app@example.com', to: `r${i}@customer.test`, subject: `${tag} ${i}`, text: 'hello' },
    );
    ids.push(r.value.id);
  }
  return ids;
}

async function statuses(ids: string[]): Promise<Record<string, string[]>> {
  const rows = await c.store.db
    .selectFrom('messages')
    .select(['id', 'status', 'last_error_code'])
    .where('id', 'in', ids)
    .execute();
  const by: Record<string, string[]> = {};
  for (const r of rows) (by[r.status === 'failed' ? `failed:${r.last_error_code}` : r.status] ??= []).push(r.id);
  return by;
}

const delivered = (): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const m of sandbox.admin.mailbox()) {
    const id = m.headers['x-sesame-message-id'];
    if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
};

beforeAll(async () => {
  sandbox = createSandbox({ clock: systemClock });
  const url = await sandbox.listen(0);
  const platform = sandbox.admin.platformCredentials();
  env = {
    SESAME_DATA_DIR: dir,
    DATABASE_URL: `sqlite:${join(dir, 'sesame.db')}`,
    SESAME_MASTER_KEY: masterKey,
    AWS_ENDPOINT_URL: url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: platform.accessKeyId,
    AWS_SECRET_ACCESS_KEY: platform.secretAccessKey,
    SESAME_WORKER_LEASE_SECONDS: '5',
    SESAME_WORKER_CONCURRENCY: '8',
    SESAME_WORKER_POLL_MS: '50',
    SESAME_LOG_LEVEL: 'warn',
    SESAME_SANDBOX: 'false', // this test serves its own sandbox, reached through the standard settings
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  c = await createContainer(loadConfig(env), {
    logger: createLogger('warn'),
    platformCredentials: async () => ({ accessKeyId: platform.accessKeyId, secretAccessKey: platform.secretAccessKey }),
  });
  const ws = await c.workspaces.create('acme', 'test');
  workspaceId = ws.id;
  const conn = await c.connections.create(ws.id, { mode: 'role', name: 'prod', region: 'us-east-1' }, 'test');
  // The downloadable template carries this connection's values as defaults.
  const body = await c.connections.onboarding.template(await c.connections.row(ws.id, conn.id));
  const roleArn = sandbox.admin.deployTemplate({
    templateBody: body,
    stackName: 'Sesame-prod',
    capabilities: ['CAPABILITY_NAMED_IAM'],
  }).outputs.RoleArn!;
  await c.connections.update(ws.id, conn.id, { roleArn }, 'test');
  sandbox.admin.verifyIdentity('example.com', { account: '222222222222', region: 'us-east-1' });
  sandbox.admin.setAccount({
    account: '222222222222',
    region: 'us-east-1',
    productionAccessEnabled: true,
    maxSendRate: 400,
    max24HourSend: 1_000_000,
  });
});

afterAll(async () => {
  await c?.close();
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('worker process', () => {
  it('kill -9 mid-run loses nothing and sends nothing twice', async () => {
    const ids = await submit(400, 'crash');
    const first = startWorker();
    await waitFor(async () => delivered().size >= 60, 'some messages delivered', 60_000);
    first.proc.kill('SIGKILL');
    await first.exited;
    const atKill = await statuses(ids);
    expect(atKill.queued?.length ?? 0).toBeGreaterThan(0); // it really died mid-run

    const second = startWorker();
    await waitFor(
      async () => {
        const s = await statuses(ids);
        return !s.queued && !s.sending ? s : undefined;
      },
      'every message settled',
      90_000,
    );
    second.proc.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const final = await statuses(ids);
    const counts = delivered();
    const sent = final.sent ?? [];
    const unknown = final['failed:send_outcome_unknown'] ?? [];
    // Nothing lost: every message is sent, or waits for a person because SES may have it.
    expect(sent.length + unknown.length).toBe(ids.length);
    // Nothing duplicated: every message reached SES at most once; every sent one exactly once.
    for (const [, n] of counts) expect(n).toBe(1);
    for (const id of sent) expect(counts.get(id)).toBe(1);
    // The in-doubt ones are exactly those in flight at the kill (at most the concurrency).
    expect(unknown.length).toBeLessThanOrEqual(8);
  });

  it('SIGTERM stops taking jobs, finishes in-flight sends and exits cleanly', async () => {
    const ids = await submit(300, 'term');
    const w = startWorker();
    await waitFor(async () => ((await statuses(ids)).sent?.length ?? 0) >= 30, 'some sent', 60_000);
    w.proc.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    const s = await statuses(ids);
    expect(s.sending ?? []).toEqual([]);
    expect(Object.keys(s).filter((k) => k.startsWith('failed'))).toEqual([]);
    expect(s.queued?.length ?? 0).toBeGreaterThan(0);
    const inFlight = await c.store.db
      .selectFrom('jobs')
      .select('id')
      .where('queue', '=', 'send')
      .where('in_flight_since', 'is not', null)
      .execute();
    expect(inFlight).toEqual([]);
    for (const id of s.sent ?? []) expect(delivered().get(id)).toBe(1);
  });
});
