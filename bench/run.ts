/**
 * `npm run bench`: Sesame's sending overhead against a direct AWS SDK baseline, both hitting the
 * sandbox SES running as its own process over HTTP. Prints a table; asserts nothing.
 *
 *   BENCH_MESSAGES (20000)  BENCH_CONCURRENCY (32: worker sends in flight = baseline concurrency)
 *   BENCH_CLIENTS (64: POSTs in flight)  BENCH_RATE (500 req/s)  BENCH_RATE_SECONDS (10)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import Database from 'better-sqlite3';
import { Agent, request as httpRequest } from 'node:http';

/** A lean keep-alive HTTP client for the load: the load generator's own cost should not count. */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
function post(url: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const N = Number(process.env.BENCH_MESSAGES ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 10);
const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'sesame-bench-'));
const children: ChildProcess[] = [];
const log = (s: string) => process.stderr.write(`${s}\n`);

function spawnLine(args: string[], env: Record<string, string>): Promise<{ proc: ChildProcess; line: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(proc);
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d) => {
      buf += String(d);
      const m = /(\{.*\}|http:\/\/127\.0\.0\.1:\d+)/.exec(buf);
      if (m) resolve({ proc, line: m[1]! });
    });
    proc.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${buf}`)));
  });
}

/** CPU seconds (user + system) a process has used so far. */
const cpuSeconds = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const peakRss = (pid: number): number =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function main(): Promise<void> {
  log(`sandbox SES as its own process…`);
  const sb = await spawnLine(
    ['src/cli/main.ts', 'sandbox', 'serve', '--quiet', '--port', '0', '--data-dir', join(dir, 'sandbox-data')],
    {},
  );
  const sandboxUrl = sb.line;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sandboxUrl}/_sandbox/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  const platform = await admin('GET', 'platform-credentials');
  await admin('POST', 'identities', { identity: 'example.com', account: '222222222222', region: 'us-east-1' });
  await admin('PUT', 'account', {
    account: '222222222222',
    region: 'us-east-1',
    productionAccessEnabled: true,
    maxSendRate: 1_000_000,
    max24HourSend: 1_000_000_000,
  });

  log('Sesame (API + worker) as its own process…');
  const env = {
    DATABASE_URL: `sqlite:${join(dir, 'sesame.db')}`,
    SESAME_DATA_DIR: dir,
    SESAME_MASTER_KEY: randomBytes(32).toString('base64'),
    AWS_ENDPOINT_URL: sandboxUrl,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: platform.accessKeyId,
    AWS_SECRET_ACCESS_KEY: platform.secretAccessKey,
    SESAME_WORKER_CONCURRENCY: String(CONCURRENCY),
    SESAME_WORKER_POLL_MS: '50',
    SESAME_LOG_LEVEL: 'error',
  };
  const srv = await spawnLine(
    [
      ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
      'bench/server.ts',
    ],
    env,
  );
  const s = JSON.parse(srv.line) as {
    url: string;
    key: string;
    roleArn: string;
    externalId: string;
    workspaceId: string;
  };
  const db = new Database(join(dir, 'sesame.db'), { readonly: true, fileMustExist: true });
  const counter = db.prepare('SELECT count(*) AS n FROM messages WHERE workspace_id = ? AND status = ?');
  const count = (status: string) => (counter.get(s.workspaceId, status) as { n: number }).n;

  // (2) Baseline: the same SendEmail calls made directly with the SDK, same credentials kind, same concurrency.
  log(`baseline: ${N} SendEmail calls with the AWS SDK, ${CONCURRENCY} in flight…`);
  const sts = new STSClient({
    region: 'us-east-1',
    endpoint: sandboxUrl,
    credentials: { accessKeyId: platform.accessKeyId, secretAccessKey: platform.secretAccessKey },
  });
  const assumed = await sts.send(
    new AssumeRoleCommand({ RoleArn: s.roleArn, RoleSessionName: 'bench-baseline', ExternalId: s.externalId }),
  );
  const ses = new SESv2Client({
    region: 'us-east-1',
    endpoint: sandboxUrl,
    maxAttempts: 1,
    credentials: {
      accessKeyId: assumed.Credentials!.AccessKeyId!,
      secretAccessKey: assumed.Credentials!.SecretAccessKey!,
      sessionToken: assumed.Credentials!.SessionToken!,
    },
  });
  const cpuB0 = { sb: cpuSeconds(sb.proc.pid!), me: process.cpuUsage() };
  const b0 = performance.now();
  await pool(N, CONCURRENCY, (i) =>
    ses.send(
      new SendEmailCommand({
        FromEmailAddress: 'bench@example.com',
        Destination: { ToAddresses: [`b${i}@customer.test`] },
        Content: {
          Simple: {
            Subject: { Data: `baseline ${i}` },
            Body: { Text: { Data: 'hello' } },
            Headers: [{ Name: 'X-Sesame-Message-Id', Value: `baseline-${i}` }],
          },
        },
      }),
    ),
  );
  const baselineSeconds = (performance.now() - b0) / 1000;
  const cpuB = {
    sb: cpuSeconds(sb.proc.pid!) - cpuB0.sb,
    client: (process.cpuUsage(cpuB0.me).user + process.cpuUsage(cpuB0.me).system) / 1e6,
  };
  const baseline = N / baselineSeconds;

  // Same starting point for both runs: the sandbox forgets what the baseline sent.
  await admin('DELETE', 'mailbox');
  const stsBefore = (await admin('GET', 'sts-calls')).filter(
    (c: any) => c.action === 'AssumeRole' && c.outcome === 'ok' && String(c.roleSessionName).startsWith('sesame-'),
  ).length;

  // (1) End to end: POST accepted → sent recorded.
  log(`Sesame: ${N} messages through POST /v1/emails (${CLIENTS} clients) until all are sent…`);
  const body = (i: number) =>
    JSON.stringify({ from: 'bench@example.com', to: `s${i}@customer.test`, subject: `sesame ${i}`, text: 'hello' });
  const headers = { authorization: `Bearer ${s.key}`, 'content-type': 'application/json' };
  const cpuE0 = { sb: cpuSeconds(sb.proc.pid!), srv: cpuSeconds(srv.proc.pid!), me: process.cpuUsage() };
  const e0 = performance.now();
  let accepted = 0;
  const posting = pool(N, CLIENTS, async (i) => {
    const status = await post(`${s.url}/v1/emails`, headers, body(i));
    if (status !== 202) throw new Error(`POST answered ${status}`);
    accepted++;
  });
  let lastReport = 0;
  await posting;
  const acceptSeconds = (performance.now() - e0) / 1000;
  for (;;) {
    const sent = count('sent');
    if (sent >= N) break;
    if (count('failed') > 0) throw new Error(`${count('failed')} messages failed`);
    if (performance.now() - lastReport > 2000) {
      log(`  ${sent}/${N} sent`);
      lastReport = performance.now();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const e2eSeconds = (performance.now() - e0) / 1000;
  const usage = process.cpuUsage(cpuE0.me);
  const cpuE = {
    sb: cpuSeconds(sb.proc.pid!) - cpuE0.sb,
    srv: cpuSeconds(srv.proc.pid!) - cpuE0.srv,
    client: (usage.user + usage.system) / 1e6,
  };
  const e2e = N / e2eSeconds;

  // (4) Latency of POST /v1/emails at a steady rate (open loop: requests leave on schedule).
  log(`latency: POST /v1/emails at ${RATE}/s for ${RATE_SECONDS} s…`);
  const total = RATE * RATE_SECONDS;
  const lat: number[] = [];
  const l0 = performance.now();
  await Promise.all(
    Array.from({ length: total }, async (_, i) => {
      const due = l0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = performance.now();
      const status = await post(`${s.url}/v1/emails`, headers, body(N + i));
      if (status !== 202) throw new Error(`POST answered ${status}`);
      lat.push(performance.now() - t);
    }),
  );
  const achieved = total / ((performance.now() - l0) / 1000);
  lat.sort((a, b) => a - b);
  while (count('sent') < N + total) await new Promise((r) => setTimeout(r, 50));

  // (5) STS calls Sesame made during its runs; (6) Sesame's peak resident memory.
  const stsAfter = (await admin('GET', 'sts-calls')).filter(
    (c: any) => c.action === 'AssumeRole' && c.outcome === 'ok' && String(c.roleSessionName).startsWith('sesame-'),
  );
  const rss = peakRss(srv.proc.pid!);
  void accepted;

  const rows: Array<[string, string]> = [
    ['messages', String(N)],
    ['send concurrency (worker = baseline)', String(CONCURRENCY)],
    [
      '(1) Sesame end to end, POST accepted → sent',
      `${e2e.toFixed(0)} msg/s (${e2eSeconds.toFixed(1)} s; all accepted in ${acceptSeconds.toFixed(1)} s)`,
    ],
    ['(2) baseline: SDK SendEmail direct', `${baseline.toFixed(0)} msg/s (${baselineSeconds.toFixed(1)} s)`],
    ['(3) ratio (1)/(2)', (e2e / baseline).toFixed(2)],
    [
      `(4) POST /v1/emails latency at ${RATE}/s`,
      `p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms (achieved ${achieved.toFixed(0)}/s)`,
    ],
    [
      '(5) AssumeRole calls by Sesame',
      `${stsAfter.length} (${stsAfter.length - stsBefore} during the runs; sessions: ${[...new Set(stsAfter.map((c: any) => String(c.roleSessionName).split('-').pop()))].join(', ')})`,
    ],
    ['(6) Sesame peak RSS', `${(rss / 1048576).toFixed(0)} MB`],
    [
      'CPU per message, baseline',
      `sandbox ${((cpuB.sb / N) * 1000).toFixed(2)} ms, SDK client ${((cpuB.client / N) * 1000).toFixed(2)} ms`,
    ],
    [
      'CPU per message, Sesame run',
      `sandbox ${((cpuE.sb / N) * 1000).toFixed(2)} ms, Sesame ${((cpuE.srv / N) * 1000).toFixed(2)} ms, HTTP client ${((cpuE.client / N) * 1000).toFixed(2)} ms`,
    ],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\nSesame sending benchmark (SQLite, ${process.platform}, node ${process.version})`);
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
  db.close();
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
    setTimeout(() => rmSync(dir, { recursive: true, force: true }), 500);
  });
