/**
 * `npm run bench:analytics`: what GET /v1/analytics costs on a year of history.
 *
 * The hourly counts are filled as a year of BENCH_YEAR_MESSAGES (10 million) messages of one
 * workspace would leave them (3 connections, a daily rhythm, SES outcomes in realistic shares), next
 * to BENCH_OTHER_WORKSPACES workspaces as busy; then the analytics module's query runs over ranges
 * the Overview asks for. As a baseline in the same run, the same counts are computed from raw
 * messages and SES events (what a query would do without the aggregate) at BENCH_RAW_MESSAGES, a
 * size the machine can afford to fill, and scaled to 10 million. Prints a table; asserts nothing.
 *
 *   BENCH_DATABASE_URL  PostgreSQL to measure as well (else TEST_DATABASE_URL; SQLite always)
 *   BENCH_YEAR_MESSAGES (10000000)  BENCH_OTHER_WORKSPACES (4)  BENCH_RAW_MESSAGES (200000)  BENCH_RUNS (20)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { manualClock } from '../src/clock.js';
import { createAnalytics } from '../src/modules/analytics/analytics.js';
import { type AnalyticsKind, type CountIncrement, createAnalyticsRepo } from '../src/store/analytics.js';
import type { Connection } from '../src/store/connections.js';
import { migrate, openStore, type Store } from '../src/store/db.js';

const YEAR_MESSAGES = Number(process.env.BENCH_YEAR_MESSAGES ?? 10_000_000);
const OTHER_WORKSPACES = Number(process.env.BENCH_OTHER_WORKSPACES ?? 4);
const RAW_MESSAGES = Number(process.env.BENCH_RAW_MESSAGES ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const CONNECTIONS = ['conn_a', 'conn_b', 'conn_c'];
/** Share of the workspace's messages per connection. */
const CONNECTION_SHARE = [0.6, 0.3, 0.1];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const END = Date.parse('2026-12-01T00:00:00Z');
const START = END - 365 * DAY;
const log = (s: string) => process.stderr.write(`${s}\n`);

/** What becomes of sent messages, per message (a typical healthy sender). */
const OUTCOMES: Array<[AnalyticsKind, number]> = [
  ['accepted', 1],
  ['sent', 0.995],
  ['failed', 0.005],
  ['suppressed', 0.003],
  ['delivered', 0.975],
  ['bounced_permanent', 0.012],
  ['bounced_transient', 0.006],
  ['complained', 0.0004],
  ['delayed', 0.01],
  ['rejected', 0.0005],
  ['opened', 0.22],
  ['clicked', 0.035],
];

/** Busier by day than by night (UTC), the same every day. */
const rhythm = Array.from({ length: 24 }, (_, h) => 0.4 + Math.sin(((h - 6) / 24) * 2 * Math.PI) ** 2);
const rhythmSum = rhythm.reduce((a, b) => a + b, 0);

async function fillAggregate(store: Store, workspaces: string[]): Promise<number> {
  const repo = createAnalyticsRepo(store.db);
  const perHour = YEAR_MESSAGES / 365;
  let rows = 0;
  for (const ws of workspaces) {
    let batch: CountIncrement[] = [];
    for (let t = START; t < END; t += HOUR) {
      const messages = (perHour * rhythm[new Date(t).getUTCHours()]!) / rhythmSum;
      CONNECTIONS.forEach((c, i) => {
        for (const [kind, share] of OUTCOMES) {
          const n = Math.round(messages * CONNECTION_SHARE[i]! * share);
          if (n > 0) batch.push({ workspaceId: ws, connectionId: c, kind, at: new Date(t).toISOString(), n });
        }
      });
      if (batch.length >= 2000) {
        rows += batch.length;
        await store.db.transaction().execute((trx) => createAnalyticsRepo(trx).add(batch));
        batch = [];
      }
    }
    rows += batch.length;
    if (batch.length) await repo.add(batch);
  }
  return rows;
}

/** Raw messages and events of one workspace over the year, `n` messages, the outcomes in the same shares. */
async function fillRaw(store: Store, n: number): Promise<number> {
  const db = store.db as unknown as Kysely<any>;
  await db
    .insertInto('workspaces')
    .values({ id: 'ws_0', name: 'bench', created_at: new Date(START).toISOString() })
    .execute();
  let events = 0;
  let msgs: any[] = [];
  let evts: any[] = [];
  const flush = async () => {
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < msgs.length; i += 500)
        await trx
          .insertInto('messages')
          .values(msgs.slice(i, i + 500))
          .execute();
      for (let i = 0; i < evts.length; i += 500)
        await trx
          .insertInto('message_events')
          .values(evts.slice(i, i + 500))
          .execute();
    });
    msgs = [];
    evts = [];
  };
  const share = (k: AnalyticsKind) => OUTCOMES.find(([kind]) => kind === k)![1];
  for (let i = 0; i < n; i++) {
    const at = START + Math.floor((i / n) * (END - START));
    const iso = new Date(at).toISOString();
    const id = `msg_${String(i).padStart(9, '0')}`;
    const r = ((i * 2654435761) % 1_000_000) / 1_000_000; // spread outcomes evenly, deterministically
    const conn = CONNECTIONS[r < 0.6 ? 0 : r < 0.9 ? 1 : 2]!;
    const failed = r < share('failed');
    msgs.push({
      id,
      workspace_id: 'ws_0',
      connection_id: conn,
      api_key_id: null,
      source: 'api',
      status: failed ? 'failed' : 'delivered',
      from_address: 'app@example.com',
      subject: 'Your receipt',
      recipients: '{"to":["someone@example.net"],"cc":[],"bcc":[]}',
      recipient_count: 1,
      tags: '{}',
      payload: '{}',
      size_bytes: 2048,
      scheduled_at: null,
      ses_message_id: failed ? null : `ses-${id}`,
      attempts: 1,
      last_error_code: null,
      last_error_message: null,
      last_error_hint: null,
      suppressed: null,
      created_at: iso,
      updated_at: iso,
      sent_at: failed ? null : iso,
    });
    if (!failed) {
      const event = (kind: string, details: object) => {
        events++;
        evts.push({
          id: `evt_${events}`,
          workspace_id: 'ws_0',
          connection_id: conn,
          message_id: id,
          ses_message_id: `ses-${id}`,
          sns_message_id: `sns_${events}`,
          kind,
          occurred_at: new Date(at + 2000).toISOString(),
          recipients: '["someone@example.net"]',
          details: JSON.stringify(details),
          created_at: iso,
        });
      };
      event('send', {});
      if (r >= 1 - share('bounced_permanent')) event('bounce', { type: 'Permanent', subType: 'General' });
      else event('delivery', {});
      if (r < share('opened')) event('open', {});
      if (r < share('clicked')) event('click', { link: 'https://example.com' });
      if (r > 0.5 && r < 0.5 + share('complained')) event('complaint', { feedbackType: 'abuse' });
    }
    if (msgs.length >= 5000) await flush();
  }
  await flush();
  return events;
}

/**
 * The baseline: the counts of one range straight from the raw rows (the same shape of answer the
 * aggregate gives: per bucket, connection and kind).
 */
async function rawQuery(store: Store, from: string, to: string, bucket: 'hour' | 'day'): Promise<number> {
  const db = store.db as unknown as Kysely<any>;
  const len = bucket === 'day' ? 10 : 13;
  const b = (col: string) => sql`substr(${sql.ref(col)}, 1, ${sql.lit(len)})`;
  const messages = await sql<{ n: number }>`
    select ${b('created_at')} as b, connection_id, count(*) as accepted,
           sum(case when sent_at is not null then 1 else 0 end) as sent,
           sum(case when status = 'failed' then 1 else 0 end) as failed
    from messages where workspace_id = 'ws_0' and created_at >= ${from} and created_at < ${to}
    group by ${b('created_at')}, connection_id`.execute(db);
  const events = await sql<{ n: number }>`
    select ${b('occurred_at')} as b, connection_id, kind, count(*) as n
    from message_events where workspace_id = 'ws_0' and occurred_at >= ${from} and occurred_at < ${to}
    group by ${b('occurred_at')}, connection_id, kind`.execute(db);
  return messages.rows.length + events.rows.length;
}

async function time(fn: () => Promise<unknown>, runs = RUNS): Promise<{ median: number; p95: number }> {
  await fn(); // warm the caches and the statement cache
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, p95: ms[Math.min(ms.length - 1, Math.ceil(ms.length * 0.95) - 1)]! };
}

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

async function bench(name: string, store: Store): Promise<string[]> {
  await migrate(store.db, store.schema);
  const workspaces = Array.from({ length: OTHER_WORKSPACES + 1 }, (_, i) => `ws_${i}`);
  let t = Date.now();
  const rows = await fillAggregate(store, workspaces);
  log(`${name}: ${rows} hour × connection × kind counts for ${workspaces.length} workspaces in ${fmt(Date.now() - t)}`);
  // As autovacuum would have by then: the planner knows the tables' sizes.
  if (store.dialect === 'postgres') await sql`analyze`.execute(store.db);

  const clock = manualClock(new Date(END - 1));
  const connections = CONNECTIONS.map(
    (id, i) => ({ id, name: `conn-${i}`, pausedReason: null }) as unknown as Connection,
  );
  const analytics = createAnalytics({
    repo: createAnalyticsRepo(store.db),
    connections: { list: async () => connections },
    clock,
    config: { reputationWindow: 1000, reputationMinSends: 100 },
  });
  const iso = (ms: number) => new Date(ms).toISOString();
  const cases: Array<[string, Parameters<typeof analytics.query>[0]]> = [
    ['year, by day', { workspaceId: 'ws_0', from: iso(START), to: iso(END), bucket: 'day' }],
    [
      'year, by day, 1 connection',
      { workspaceId: 'ws_0', from: iso(START), to: iso(END), bucket: 'day', connectionIds: ['conn_b'] },
    ],
    ['30 days, by hour', { workspaceId: 'ws_0', from: iso(END - 30 * DAY), to: iso(END), bucket: 'hour' }],
    ['7 days (default)', { workspaceId: 'ws_0' }],
    ['24 hours, by hour', { workspaceId: 'ws_0', from: iso(END - DAY), to: iso(END) }],
  ];
  const out: string[] = [];
  for (const [label, q] of cases) {
    const r = await time(() => analytics.query(q));
    const a = await analytics.query(q);
    out.push(
      `| ${name} | aggregate, ${YEAR_MESSAGES.toLocaleString('en')} messages | ${label} | ${fmt(r.median)} | ${fmt(r.p95)} | ${a.totals.sent.toLocaleString('en')} sent |`,
    );
  }

  t = Date.now();
  const events = await fillRaw(store, RAW_MESSAGES);
  log(`${name}: ${RAW_MESSAGES} raw messages and ${events} events in ${fmt(Date.now() - t)}`);
  if (store.dialect === 'postgres') await sql`analyze`.execute(store.db);
  const scale = YEAR_MESSAGES / RAW_MESSAGES;
  for (const [label, from, to, bucket] of [
    ['year, by day', iso(START), iso(END), 'day'],
    ['7 days, by day', iso(END - 7 * DAY), iso(END), 'day'],
  ] as const) {
    const r = await time(() => rawQuery(store, from, to, bucket), Math.min(RUNS, 5));
    out.push(
      `| ${name} | raw rows, ${RAW_MESSAGES.toLocaleString('en')} messages | ${label} | ${fmt(r.median)} | ${fmt(r.p95)} | ≈ ${fmt(r.median * scale)} scaled to ${YEAR_MESSAGES.toLocaleString('en')} |`,
    );
  }
  return out;
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sesame-bench-analytics-'));
  try {
    const sqlite = openStore(`sqlite:${join(dir, 'bench.db')}`);
    try {
      lines.push(...(await bench('SQLite', sqlite)));
    } finally {
      await sqlite.close();
    }
    if (PG_URL) {
      const name = `sesame_bench_${randomBytes(4).toString('hex')}`;
      const admin = async (text: string) => {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        try {
          await c.query(text);
        } finally {
          await c.end();
        }
      };
      await admin(`CREATE DATABASE ${name} TEMPLATE template0`);
      const url = new URL(PG_URL);
      url.pathname = `/${name}`;
      const store = openStore(url.toString());
      try {
        lines.push(...(await bench('PostgreSQL', store)));
      } finally {
        await store.close();
        await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    } else log('PostgreSQL skipped: set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to measure it too');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('| store | data | query | median | p95 | answer |');
  console.log('|---|---|---|---|---|---|');
  for (const l of lines) console.log(l);
}

await main();
