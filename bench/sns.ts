/**
 * `npm run bench` (second part): signed SNS notifications carrying SES events, posted to Sesame's
 * public endpoint (its own process, SQLite) until every one is verified, stored and applied to its
 * message (status, timeline, suppression). Then the cost of one signature verification with a
 * warm certificate cache. Prints a table; asserts nothing.
 *
 *   BENCH_MESSAGES (20000)  BENCH_CLIENTS (64)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSign, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSnsVerifier, type SnsMessage, stringToSign } from '../src/aws/sns-verify.js';
import { systemClock } from '../src/clock.js';
import { selfSignedCertificate } from '../src/sandbox/x509.js';

const N = Number(process.env.BENCH_MESSAGES ?? 20_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const TOPIC = 'arn:aws:sns:us-east-1:222222222222:sesame-events-bench';
const CERT_FILE = 'SimpleNotificationService-bench.pem';
const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'sesame-bench-sns-'));
const log = (s: string) => process.stderr.write(`${s}\n`);
let server: ChildProcess | undefined;

const agent = new Agent({ keepAlive: true, maxSockets: 256 });
function post(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'text/plain; charset=UTF-8',
          'x-amz-sns-message-type': 'Notification',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const cpuSeconds = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

/** SES events in the event-publishing format: deliveries mostly, some bounces and complaints. */
function sesEvent(i: number): string {
  const ts = new Date().toISOString();
  const to = `r${i}@customer.test`;
  const mail = { timestamp: ts, source: 'app@example.com', messageId: `bench-${i}`, destination: [to], headers: [] };
  if (i % 10 === 0)
    return JSON.stringify({
      eventType: 'Bounce',
      mail,
      bounce: {
        bounceType: 'Permanent',
        bounceSubType: 'General',
        bouncedRecipients: [{ emailAddress: to, status: '5.1.1' }],
        timestamp: ts,
      },
    });
  if (i % 25 === 1)
    return JSON.stringify({
      eventType: 'Complaint',
      mail,
      complaint: { complainedRecipients: [{ emailAddress: to }], timestamp: ts, complaintFeedbackType: 'abuse' },
    });
  return JSON.stringify({
    eventType: 'Delivery',
    mail,
    delivery: { timestamp: ts, recipients: [to], processingTimeMillis: 100, smtpResponse: '250 ok' },
  });
}

async function main(): Promise<void> {
  const certDir = join(dir, 'certs');
  mkdirSync(certDir);
  const now = Date.now();
  const cert = selfSignedCertificate('sns.amazonaws.com', new Date(now - 86_400_000), new Date(now + 86_400_000));
  writeFileSync(join(certDir, CERT_FILE), cert.certificatePem);
  const sign = (m: SnsMessage) => ({
    ...m,
    Signature: createSign(m.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256')
      .update(stringToSign(m))
      .sign(cert.privateKeyPem, 'base64'),
  });
  const notification = (i: number, version: '1' | '2' = '2'): SnsMessage =>
    sign({
      Type: 'Notification',
      MessageId: randomUUID(),
      TopicArn: TOPIC,
      Message: sesEvent(i),
      Timestamp: new Date().toISOString(),
      SignatureVersion: version,
      Signature: '',
      SigningCertURL: `https://sns.us-east-1.amazonaws.com/${CERT_FILE}`,
    });

  log(`signing ${N} notifications (not timed)…`);
  const bodies = Array.from({ length: N }, (_, i) => JSON.stringify(notification(i)));

  log('Sesame (API + event processing) as its own process…');
  const dbPath = join(dir, 'sesame.db');
  server = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
      'bench/sns-server.ts',
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        DATABASE_URL: `sqlite:${dbPath}`,
        SESAME_DATA_DIR: dir,
        SESAME_MASTER_KEY: randomBytes(32).toString('base64'),
        SESAME_SNS_CERT_DIR: certDir,
        SESAME_LOG_LEVEL: 'error',
        BENCH_TOPIC: TOPIC,
        BENCH_MESSAGES: String(N),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const s = await new Promise<{ url: string; connectionId: string }>((resolve, reject) => {
    let buf = '';
    server!.stdout!.on('data', (d) => {
      buf += String(d);
      const m = /(\{.*\})/.exec(buf);
      if (m) resolve(JSON.parse(m[1]!));
    });
    server!.on('exit', (code) => reject(new Error(`sns-server exited with ${code}: ${buf}`)));
  });
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  const processed = db.prepare('SELECT count(*) AS n FROM sns_messages WHERE processed_at IS NOT NULL');
  const count = () => (processed.get() as { n: number }).n;

  log(`posting ${N} signed notifications (${CLIENTS} clients) until all are applied…`);
  const cpu0 = cpuSeconds(server.pid!);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < N) {
        const status = await post(`${s.url}/v1/sns/${s.connectionId}`, bodies[next++]!);
        if (status !== 200) throw new Error(`the endpoint answered ${status}`);
      }
    }),
  );
  const acceptedSeconds = (performance.now() - t0) / 1000;
  let lastReport = performance.now();
  while (count() < N) {
    if (performance.now() - lastReport > 2000) {
      log(`  ${count()}/${N} applied`);
      lastReport = performance.now();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const appliedSeconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.pid!) - cpu0;
  const outcomes = db.prepare('SELECT outcome, count(*) AS n FROM sns_messages GROUP BY outcome').all() as Array<{
    outcome: string;
    n: number;
  }>;
  const statuses = db.prepare('SELECT status, count(*) AS n FROM messages GROUP BY status').all() as Array<{
    status: string;
    n: number;
  }>;
  const suppressed = (db.prepare('SELECT count(*) AS n FROM suppressions').get() as { n: number }).n;
  db.close();

  log('signature verification with a warm certificate cache…');
  const verifier = createSnsVerifier({ clock: systemClock, maxAgeSeconds: 3600, certDir });
  const perVersion: Record<string, number> = {};
  for (const version of ['1', '2'] as const) {
    const sample = Array.from({ length: 2000 }, (_, i) => JSON.stringify(notification(i, version)));
    await verifier.verify(sample[0]!); // warm the cache
    const v0 = performance.now();
    for (const b of sample) await verifier.verify(b);
    perVersion[version] = ((performance.now() - v0) * 1000) / sample.length;
  }

  const rows: Array<[string, string]> = [
    ['notifications', `${N} (SES events: 86% Delivery, 10% Bounce, 4% Complaint)`],
    [
      'verified + stored (200 answered)',
      `${(N / acceptedSeconds).toFixed(0)}/s (${acceptedSeconds.toFixed(1)} s, ${CLIENTS} clients)`,
    ],
    [
      'verified + stored + applied',
      `${(N / appliedSeconds).toFixed(0)}/s (${appliedSeconds.toFixed(1)} s until the last was applied; goal ≥ 3000/s)`,
    ],
    ['Sesame CPU per notification', `${((cpu / N) * 1000).toFixed(2)} ms`],
    ['outcomes', outcomes.map((o) => `${o.outcome} ${o.n}`).join(', ')],
    [
      'messages by status',
      statuses.map((o) => `${o.status} ${o.n}`).join(', ') + `; ${suppressed} suppressed addresses`,
    ],
    ['verify, warm cache, SignatureVersion 1 (SHA1)', `${perVersion['1']!.toFixed(0)} µs per notification`],
    ['verify, warm cache, SignatureVersion 2 (SHA256)', `${perVersion['2']!.toFixed(0)} µs per notification`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\nSesame SNS events benchmark (SQLite, ${process.platform}, node ${process.version})`);
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
    agent.destroy();
  });
