import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AnalyticsRepo, type CountRow, createAnalyticsRepo } from '../../src/store/analytics.js';
import { migrate, type Store } from '../../src/store/db.js';
import * as m019 from '../../src/store/migrations/019_analytics.js';
import { backends, testStore } from '../helpers/store.js';

const T0 = '2026-03-01T10:15:00.000Z';

/** The analytics repository on every backend: its upserts, sums and the migration that fills it. */
describe.each(backends())('analytics repository (%s)', (backend) => {
  let store: Store;
  let repo: AnalyticsRepo;
  let db: Kysely<any>;
  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
    db = store.db as unknown as Kysely<any>;
    for (const id of ['ws_a', 'ws_b'])
      await db.insertInto('workspaces').values({ id, name: id, created_at: T0 }).execute();
    repo = createAnalyticsRepo(store.db);
  });
  afterEach(async () => {
    await store.close();
  });

  let n = 0;
  async function message(o: {
    workspaceId?: string;
    connectionId?: string;
    status?: string;
    createdAt?: string;
    sentAt?: string | null;
    updatedAt?: string;
    lastErrorCode?: string | null;
    scheduledAt?: string | null;
  }): Promise<string> {
    const id = `msg_${String(++n).padStart(4, '0')}`;
    await db
      .insertInto('messages')
      .values({
        id,
        workspace_id: o.workspaceId ?? 'ws_a',
        connection_id: o.connectionId ?? 'conn_1',
        api_key_id: null,
        source: 'api',
        status: o.status ?? 'queued',
        from_address: 'app@example.com',
        subject: 's',
        recipients: '{"to":["x@example.net"],"cc":[],"bcc":[]}',
        recipient_count: 1,
        tags: '{}',
        payload: '{}',
        size_bytes: 10,
        scheduled_at: o.scheduledAt ?? null,
        ses_message_id: null,
        attempts: 0,
        last_error_code: o.lastErrorCode ?? null,
        last_error_message: null,
        last_error_hint: null,
        suppressed: null,
        created_at: o.createdAt ?? T0,
        updated_at: o.updatedAt ?? o.createdAt ?? T0,
        sent_at: o.sentAt ?? null,
      })
      .execute();
    return id;
  }

  /** Every count that is not zero, as `bucket connection kind count`, sorted. */
  const flat = (rows: CountRow[]) =>
    rows
      .flatMap((r) =>
        Object.entries(r.counts)
          .filter(([, n]) => n !== 0)
          .map(([kind, n]) => `${r.bucket} ${r.connectionId} ${kind} ${n}`),
      )
      .sort();

  it('adds increments into their UTC hour, summing repeats, and reads them back by hour and by day', async () => {
    await repo.add([
      { workspaceId: 'ws_a', connectionId: 'conn_1', kind: 'sent', at: '2026-03-01T10:00:00.000Z' },
      { workspaceId: 'ws_a', connectionId: 'conn_1', kind: 'sent', at: '2026-03-01T10:59:59.999Z' },
      { workspaceId: 'ws_a', connectionId: 'conn_1', kind: 'sent', at: '2026-03-01T11:00:00.000Z', n: 3 },
      { workspaceId: 'ws_a', connectionId: 'conn_2', kind: 'delivered', at: '2026-03-01T23:30:00.000Z' },
      { workspaceId: 'ws_a', connectionId: 'conn_1', kind: 'sent', at: '2026-03-02T00:00:00.000Z' },
    ]);
    // A second transaction counting the same hour adds to it.
    await repo.add([{ workspaceId: 'ws_a', connectionId: 'conn_1', kind: 'sent', at: '2026-03-01T10:30:00+00:00' }]);
    await repo.add([{ workspaceId: 'ws_b', connectionId: 'conn_9', kind: 'sent', at: '2026-03-01T10:30:00.000Z' }]);

    const hours = await repo.counts({
      workspaceId: 'ws_a',
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-03T00:00:00.000Z',
      bucket: 'hour',
    });
    expect(flat(hours)).toEqual([
      '2026-03-01T10 conn_1 sent 3',
      '2026-03-01T11 conn_1 sent 3',
      '2026-03-01T23 conn_2 delivered 1',
      '2026-03-02T00 conn_1 sent 1',
    ]);
    const days = await repo.counts({
      workspaceId: 'ws_a',
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-03T00:00:00.000Z',
      bucket: 'day',
    });
    expect(flat(days)).toEqual([
      '2026-03-01 conn_1 sent 6',
      '2026-03-01 conn_2 delivered 1',
      '2026-03-02 conn_1 sent 1',
    ]);
    // The range includes its first hour and excludes its last; a connection filter narrows it.
    expect(
      flat(
        await repo.counts({
          workspaceId: 'ws_a',
          from: '2026-03-01T11:00:00.000Z',
          to: '2026-03-02T00:00:00.000Z',
          bucket: 'hour',
          connectionIds: ['conn_1'],
        }),
      ),
    ).toEqual(['2026-03-01T11 conn_1 sent 3']);
    // Another workspace's counts never show.
    expect(
      flat(
        await repo.counts({
          workspaceId: 'ws_b',
          from: '2026-03-01T00:00:00.000Z',
          to: '2026-03-03T00:00:00.000Z',
          bucket: 'day',
        }),
      ),
    ).toEqual(['2026-03-01 conn_9 sent 1']);
  });

  it('concurrent transactions counting the same rows all land', async () => {
    const inc = (kind: 'sent' | 'delivered') => ({
      workspaceId: 'ws_a',
      connectionId: 'conn_1',
      kind,
      at: T0,
    });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.db
          .transaction()
          .execute((trx) =>
            createAnalyticsRepo(trx).add(i % 2 ? [inc('sent'), inc('delivered')] : [inc('delivered'), inc('sent')]),
          ),
      ),
    );
    const rows = await repo.counts({
      workspaceId: 'ws_a',
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-02T00:00:00.000Z',
      bucket: 'day',
    });
    expect(flat(rows)).toEqual(['2026-03-01 conn_1 delivered 20', '2026-03-01 conn_1 sent 20']);
  });

  it('counts messages by id under their own workspace and connection', async () => {
    const a1 = await message({ connectionId: 'conn_1' });
    const a2 = await message({ connectionId: 'conn_1' });
    const a3 = await message({ connectionId: 'conn_2' });
    const b1 = await message({ workspaceId: 'ws_b', connectionId: 'conn_9' });
    await repo.addMessages('sent', [a1, a2, a3, b1], '2026-03-01T12:05:00.000Z');
    await repo.addMessages('sent', [a1], '2026-03-01T12:45:00.000Z');
    await repo.addMessages('failed', [], '2026-03-01T12:45:00.000Z');
    const q = (workspaceId: string) =>
      repo.counts({ workspaceId, from: '2026-03-01T00:00:00.000Z', to: '2026-03-02T00:00:00.000Z', bucket: 'hour' });
    expect(flat(await q('ws_a'))).toEqual(['2026-03-01T12 conn_1 sent 3', '2026-03-01T12 conn_2 sent 1']);
    expect(flat(await q('ws_b'))).toEqual(['2026-03-01T12 conn_9 sent 1']);
  });

  it('keeps the last quota reading per connection, per workspace', async () => {
    const reading = {
      connectionId: 'conn_1',
      maxSendRate: 14,
      max24HourSend: 50_000,
      sentLast24Hours: 120.5,
      readAt: T0,
    };
    await repo.noteQuota('ws_a', reading);
    await repo.noteQuota('ws_a', { ...reading, sentLast24Hours: 200, readAt: '2026-03-01T10:30:00.000Z' });
    await repo.noteQuota('ws_b', { ...reading, connectionId: 'conn_9' });
    expect(await repo.quotas('ws_a')).toEqual([
      { ...reading, sentLast24Hours: 200, readAt: '2026-03-01T10:30:00.000Z' },
    ]);
    expect((await repo.quotas('ws_b')).map((q) => q.connectionId)).toEqual(['conn_9']);
  });

  it('counts the send queue per connection by state: in flight, due, and waiting with the reason its message gives', async () => {
    const now = '2026-03-01T12:00:00.000Z';
    const later = '2026-03-01T13:00:00.000Z';
    const job = async (id: string, runAt: string, inFlight = false, group = 'conn_1') =>
      db
        .insertInto('jobs')
        .values({
          queue: 'send',
          id,
          group_key: group,
          run_at: runAt,
          attempts: 0,
          lease_owner: inFlight ? 'w' : null,
          lease_expires_at: inFlight ? later : null,
          in_flight_since: inFlight ? now : null,
        })
        .execute();
    await job(await message({}), T0);
    await job(await message({}), T0);
    await job(await message({ status: 'sending' }), T0, true);
    await job(await message({ lastErrorCode: 'warmup_held' }), later);
    await job(await message({ lastErrorCode: 'ses_daily_quota' }), later);
    await job(await message({ scheduledAt: later }), later);
    await job(await message({ lastErrorCode: 'ses_throttled' }), later);
    await job(await message({ connectionId: 'conn_2' }), T0, false, 'conn_2');
    await job(await message({ workspaceId: 'ws_b', connectionId: 'conn_9' }), T0, false, 'conn_9');
    // A finished message has no job and is not counted.
    await message({ status: 'delivered' });

    const rows = await repo.queue('ws_a', now);
    const byKey = Object.fromEntries(rows.map((r) => [`${r.connectionId}/${r.state}`, r.count]));
    expect(byKey).toEqual({
      'conn_1/due': 2,
      'conn_1/in_flight': 1,
      'conn_1/warmup': 1,
      'conn_1/quota': 1,
      'conn_1/scheduled': 1,
      'conn_1/retry': 1,
      'conn_2/due': 1,
    });
  });

  it('migration 019 fills the counts from the messages and SES events already stored', async () => {
    await m019.down(db);
    const delivered = await message({
      createdAt: '2026-03-01T09:10:00.000Z',
      sentAt: '2026-03-01T09:11:00.000Z',
      status: 'delivered',
    });
    await message({ createdAt: '2026-03-01T09:20:00.000Z', sentAt: '2026-03-01T10:01:00.000Z', status: 'bounced' });
    await message({ createdAt: '2026-03-01T09:30:00.000Z', status: 'suppressed' });
    await message({ createdAt: '2026-03-01T09:40:00.000Z', updatedAt: '2026-03-01T11:00:00.000Z', status: 'failed' });
    await message({ workspaceId: 'ws_b', connectionId: 'conn_9', createdAt: '2026-03-01T09:00:00.000Z' });
    let e = 0;
    const event = (kind: string, occurredAt: string, details: object = {}, workspaceId = 'ws_a') =>
      db
        .insertInto('message_events')
        .values({
          id: `evt_${++e}`,
          workspace_id: workspaceId,
          connection_id: workspaceId === 'ws_a' ? 'conn_1' : 'conn_9',
          message_id: delivered,
          ses_message_id: 'ses',
          sns_message_id: `sns_${e}`,
          kind,
          occurred_at: occurredAt,
          recipients: '[]',
          details: JSON.stringify(details),
          created_at: occurredAt,
        })
        .execute();
    await event('send', '2026-03-01T09:11:00.000Z');
    await event('delivery', '2026-03-01T09:12:00.000Z');
    await event('bounce', '2026-03-01T10:02:00.000Z', { type: 'Permanent' });
    await event('bounce', '2026-03-01T10:03:00.000Z', { type: 'Transient' });
    await event('bounce', '2026-03-01T10:04:00.000Z', { type: 'Undetermined' });
    await event('complaint', '2026-03-01T10:05:00.000Z', { feedbackType: 'abuse' });
    await event('reject', '2026-03-01T10:06:00.000Z');
    await event('rendering_failure', '2026-03-01T10:07:00.000Z');
    await event('delivery_delay', '2026-03-01T10:08:00.000Z');
    await event('open', '2026-03-01T10:09:00.000Z');
    await event('click', '2026-03-01T10:10:00.000Z');
    await event('subscription', '2026-03-01T10:11:00.000Z');
    await event('delivery', '2026-03-01T10:12:00.000Z', {}, 'ws_b');
    await m019.up(db);

    const rows = await repo.counts({
      workspaceId: 'ws_a',
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-02T00:00:00.000Z',
      bucket: 'hour',
    });
    expect(flat(rows)).toEqual(
      [
        '09 accepted 4',
        '09 suppressed 1',
        '09 sent 1',
        '09 delivered 1',
        '10 sent 1',
        '10 bounced_permanent 1',
        '10 bounced_transient 1',
        '10 bounced_undetermined 1',
        '10 complained 1',
        '10 rejected 2',
        '10 delayed 1',
        '10 opened 1',
        '10 clicked 1',
        '11 failed 1',
      ]
        .map((x) => `2026-03-01T${x.slice(0, 2)} conn_1${x.slice(2)}`)
        .sort(),
    );
    // Each day is the sum of its hours.
    const day = await repo.counts({
      workspaceId: 'ws_a',
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-02T00:00:00.000Z',
      bucket: 'day',
    });
    expect(day).toEqual([
      {
        bucket: '2026-03-01',
        connectionId: 'conn_1',
        counts: {
          accepted: 4,
          suppressed: 1,
          sent: 2,
          failed: 1,
          delivered: 1,
          bounced_permanent: 1,
          bounced_transient: 1,
          bounced_undetermined: 1,
          complained: 1,
          rejected: 2,
          delayed: 1,
          opened: 1,
          clicked: 1,
        },
      },
    ]);
    const other = await repo.counts({
      workspaceId: 'ws_b',
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-02T00:00:00.000Z',
      bucket: 'day',
    });
    expect(flat(other)).toEqual(['2026-03-01 conn_9 accepted 1', '2026-03-01 conn_9 delivered 1']);
  });
});
