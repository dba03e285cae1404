import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { manualClock, systemClock } from '../../src/clock.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createContainer, type Container } from '../../src/container.js';
import { buildServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { createSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';
import { freePort } from './net.js';
import { type Backend, testStore } from './store.js';

export interface Harness {
  sandbox: Sandbox;
  sandboxUrl: string;
  container: Container;
  app: FastifyInstance;
  clock: ReturnType<typeof manualClock>;
  /** Run every background loop until none has work due now (time does not move). */
  drain(): Promise<void>;
  key: string;
  workspaceId: string;
  /** When pacing let each message go (injected clock), in order. */
  admitted: Array<{ connectionId: string; recipients: number; at: number }>;
  /** Every log line and response body seen, to prove no secret leaks through them. */
  logs: string[];
  bodies: string[];
  call(
    method: string,
    url: string,
    body?: unknown,
    opts?: { key?: string | null; headers?: Record<string, string>; rawBody?: string },
  ): Promise<{ status: number; json: any; text: string; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  backend?: Backend;
  env?: Record<string, string>;
  propagationDelayMs?: number;
  /** Real time and real sleeps (for pacing measured across processes and HTTP). */
  realClock?: boolean;
  /**
   * Serve the API on a real loopback port, with SESAME_PUBLIC_URL pointing at it and the sandbox
   * SNS certificate in SESAME_SNS_CERT_DIR: the sandbox can then deliver SES events to Sesame.
   */
  listen?: boolean;
  /** Sandbox options, e.g. DNS servers against which SES identities are verified. */
  sandbox?: Pick<SandboxOptions, 'dnsServers' | 'identityVerification'>;
}

/**
 * Sesame wired to an in-process sandbox over real HTTP with the real AWS SDK, a real store and
 * Fastify inject(). The clock starts at the real time because the SDK checks credential expiry
 * against the real clock.
 */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  // Sleeps (pacing, retry backoff, IAM propagation) move the clock instead of waiting.
  const manual = manualClock(new Date(), { autoAdvanceSleeps: true });
  const clock = opts.realClock
    ? Object.assign(Object.create(manual) as typeof manual, {
        now: () => new Date(),
        ms: () => Date.now(),
        setTimer: systemClock.setTimer,
        sleep: systemClock.sleep,
      })
    : manual;
  const sandbox = createSandbox({
    clock,
    ...opts.sandbox,
    ...(opts.propagationDelayMs !== undefined ? { propagationDelayMs: opts.propagationDelayMs } : {}),
  });
  const sandboxUrl = await sandbox.listen(0);
  const platform = sandbox.admin.platformCredentials();
  const store = await testStore(opts.backend ?? 'sqlite');
  const admitted: Harness['admitted'] = [];
  const port = opts.listen ? await freePort() : 0;
  const listenEnv: Record<string, string> = opts.listen
    ? { SESAME_PUBLIC_URL: `http://127.0.0.1:${port}`, SESAME_SNS_CERT_DIR: sandboxCertDir(sandbox) }
    : {};
  const config: Config = loadConfig({
    AWS_ENDPOINT_URL: sandboxUrl,
    AWS_REGION: 'us-east-1',
    SESAME_MASTER_KEY: randomBytes(32).toString('base64'),
    SESAME_TEMPLATE_BUCKET: 'sesame-templates',
    SESAME_CONSOLE_URL: sandboxUrl,
    SESAME_SANDBOX: 'true',
    SESAME_DATA_DIR: '/nonexistent-test-dir',
    SESAME_PROPAGATION_RETRY_SECONDS: '0',
    SESAME_LOG_LEVEL: 'info',
    SESAME_ALLOW_DEFAULT_CHAIN: 'true',
    ...(store.url ? { DATABASE_URL: store.url } : {}),
    ...listenEnv,
    ...opts.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const container = await createContainer(config, {
    clock,
    store,
    logger: createLogger('info', sink),
    platformCredentials: async () => ({ accessKeyId: platform.accessKeyId, secretAccessKey: platform.secretAccessKey }),
    // Waiting (IAM propagation backoff) moves the shared clock instead of sleeping.
    ...(opts.realClock ? {} : { sleep: async (ms: number) => clock.advance(ms) }),
    onAdmit: (e) => admitted.push(e),
  });
  const app = await buildServer(container);
  if (opts.listen) await app.listen({ port, host: '127.0.0.1' });
  const ws = await container.workspaces.create('acme', 'test');
  const { key } = await container.apiKeys.create(ws.id, 'test', 'test', { scopes: ['admin'] });
  const bodies: string[] = [];

  return {
    sandbox,
    sandboxUrl,
    container,
    app,
    clock,
    key,
    workspaceId: ws.id,
    logs,
    bodies,
    admitted,
    drain: () => container.runner.drainOnce(),
    async call(method, url, body, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const k = o.key === undefined ? key : o.key;
      if (k) headers.authorization = `Bearer ${k}`;
      let payload: string | undefined;
      if (o.rawBody !== undefined) payload = o.rawBody;
      else if (body !== undefined) {
        payload = JSON.stringify(body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers,
        ...(payload !== undefined ? { payload } : {}),
      });
      bodies.push(res.body);
      let json: unknown;
      try {
        json = res.json();
      } catch {
        json = undefined;
      }
      return { status: res.statusCode, json, text: res.body, headers: res.headers as Record<string, unknown> };
    },
    async close() {
      await sandbox.admin.snsSettled();
      await app.close();
      await container.close();
      await sandbox.close();
    },
  };
}

/** The sandbox SNS signing certificate, placed where SESAME_SNS_CERT_DIR expects it. */
export function sandboxCertDir(sandbox: Sandbox): string {
  const dir = mkdtempSync(join(tmpdir(), 'sesame-sns-'));
  sandbox.admin.snsCertificate(dir);
  return dir;
}

/** Read the quick-create link's hash parameters. */
export function quickCreateParams(url: string): {
  templateURL: string;
  stackName: string;
  params: Record<string, string>;
} {
  const hash = new URL(url).hash; // #/stacks/quickcreate?...
  const q = new URLSearchParams(hash.slice(hash.indexOf('?') + 1));
  const params: Record<string, string> = {};
  for (const [k, v] of q) if (k.startsWith('param_')) params[k.slice(6)] = v;
  return { templateURL: q.get('templateURL') ?? '', stackName: q.get('stackName') ?? '', params };
}

/** Play the customer: create the stack from the quick-create link, as the console would. */
export async function deployFromQuickCreate(
  h: Harness,
  quickCreateUrl: string,
  paramOverrides: Record<string, string> = {},
): Promise<string> {
  const { templateURL, stackName, params } = quickCreateParams(quickCreateUrl);
  const res = await fetch(templateURL);
  if (!res.ok) throw new Error(`template fetch failed: ${res.status}`);
  const templateBody = await res.text();
  const out = h.sandbox.admin.deployTemplate({
    templateBody,
    stackName,
    parameters: { ...params, ...paramOverrides },
    capabilities: ['CAPABILITY_NAMED_IAM'],
  });
  const arn = out.outputs.RoleArn;
  if (!arn) throw new Error('stack has no RoleArn output');
  return arn;
}

/** A role connection with its stack deployed and role ARN set. */
export async function connectedRole(
  h: Harness,
  name = 'prod',
  extra: Record<string, unknown> = {},
  paramOverrides: Record<string, string> = {},
): Promise<{ id: string; roleArn: string; externalId: string }> {
  const created = await h.call('POST', '/v1/connections', { name, region: 'us-east-1', mode: 'role', ...extra });
  if (created.status !== 201) throw new Error(`create failed: ${created.text}`);
  const roleArn = await deployFromQuickCreate(h, created.json.onboarding.quickCreateUrl, paramOverrides);
  const patched = await h.call('PATCH', `/v1/connections/${created.json.id}`, { roleArn });
  if (patched.status !== 200) throw new Error(`patch failed: ${patched.text}`);
  return { id: created.json.id, roleArn, externalId: created.json.externalId };
}

export const check = (
  report: { checks: Array<{ id: string; status: string; message?: string; hint?: string; code?: string }> },
  id: string,
) => report.checks.find((c) => c.id === id);

/**
 * Poll until `fn` returns a truthy value. The bound is a ceiling for a test that would otherwise
 * hang, never a measure of speed: it is generous, since a busy machine is slow, not wrong.
 */
export const WAIT_CEILING_MS = 60_000;
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  what = 'condition',
  timeoutMs = WAIT_CEILING_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A connection ready to send: role connected, example.com verified, production quota. */
export async function sendingSetup(
  h: Harness,
  opts: { maxSendRate?: number; max24HourSend?: number; production?: boolean } = {},
): Promise<{ id: string; roleArn: string }> {
  const c = await connectedRole(h, 'prod');
  h.sandbox.admin.verifyIdentity('example.com', { account: '222222222222', region: 'us-east-1' });
  h.sandbox.admin.setAccount({
    account: '222222222222',
    region: 'us-east-1',
    productionAccessEnabled: opts.production ?? true,
    maxSendRate: opts.maxSendRate ?? 1000,
    max24HourSend: opts.max24HourSend ?? 1_000_000,
  });
  return c;
}

export async function waitForStatus(
  h: Harness,
  id: string,
  status: string | string[],
  timeoutMs = WAIT_CEILING_MS,
): Promise<any> {
  const want = Array.isArray(status) ? status : [status];
  return waitFor(
    async () => {
      // Sending is a runner loop: do what is due now; only what arrives from outside (SES events
      // over HTTP) is waited for.
      await h.drain();
      const m = (await h.call('GET', `/v1/emails/${id}`)).json;
      return want.includes(m.status) ? m : undefined;
    },
    `message ${id} to be ${want.join('|')}`,
    timeoutMs,
  );
}
