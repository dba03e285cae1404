import { type Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, type Store } from '../../src/store/db.js';
import { createJobs } from '../../src/store/jobs.js';
import { backends, testStore } from '../helpers/store.js';

const T0 = '2026-03-01T10:00:00.000Z';
const LATER = '2026-03-02T10:00:00.000Z';

describe.each(backends())('moving sends onto the jobs table (%s)', (backend) => {
  let store: Store;
  let db: Kysely<any>;
  beforeEach(async () => {
    store = await testStore(backend);
    // The schema as it was before the upgrade under test.
    await migrate(store.db, store.schema, '014_jobs');
    db = store.db as unknown as Kysely<any>;
    await db.insertInto('workspaces').values({ id: 'ws_1', name: 'acme', created_at: T0 }).execute();
  });
  afterEach(async () => {
    await store.close();
  });

  const message = (id: string, status: string, extra: Record<string, unknown> = {}) =>
    db
      .insertInto('messages')
      .values({
        id,
        workspace_id: 'ws_1',
        connection_id: 'conn_a',
        status,
        from_address: 'app@example.com',
        subject: 's',
        recipients: '{"to":["x@customer.test"],"cc":[],"bcc":[]}',
        recipient_count: 1,
        payload: '{}',
        size_bytes: 10,
        attempts: 0,
        created_at: T0,
        updated_at: T0,
        ...extra,
      })
      .execute();
  const sendJobs = async () =>
    (
      await db
        .selectFrom('jobs')
        .select(['id', 'group_key', 'run_at', 'attempts', 'lease_owner', 'lease_expires_at', 'in_flight_since'])
        .where('queue', '=', 'send')
        .orderBy('id')
        .execute()
    ).map((r) => ({ ...r, attempts: Number(r.attempts) }));

  it('copies the table queue as it is, leases and in-flight marks included', async () => {
    await message('m_due', 'queued');
    await message('m_held', 'queued', { scheduled_at: LATER });
    await message('m_flying', 'sending', { attempts: 2 });
    const job = { connection_id: 'conn_a', attempts: 0, lease_owner: null, lease_expires_at: null, created_at: T0 };
    await db
      .insertInto('send_jobs')
      .values([
        { ...job, message_id: 'm_due', run_at: T0 },
        { ...job, message_id: 'm_held', run_at: LATER },
        {
          ...job,
          message_id: 'm_flying',
          run_at: T0,
          attempts: 1,
          lease_owner: 'worker-1',
          lease_expires_at: LATER,
          in_flight_since: T0,
        },
      ])
      .execute();
    await migrate(store.db, store.schema);
    const none = { lease_owner: null, lease_expires_at: null, in_flight_since: null, attempts: 0, group_key: 'conn_a' };
    expect(await sendJobs()).toEqual([
      { ...none, id: 'm_due', run_at: T0 },
      {
        id: 'm_flying',
        group_key: 'conn_a',
        run_at: T0,
        attempts: 1,
        lease_owner: 'worker-1',
        lease_expires_at: LATER,
        in_flight_since: T0,
      },
      { ...none, id: 'm_held', run_at: LATER },
    ]);
    await expect(sql`select 1 from send_jobs`.execute(db)).rejects.toThrow();
    await expect(sql`select 1 from send_jobs_pgboss`.execute(db)).rejects.toThrow();
  });

  it('gives a queued message without a job one (at its scheduled time or at once), and makes one being sent an abandoned in-flight job', async () => {
    // What pg-boss left: messages only, their jobs in pg-boss's own tables.
    if (backend === 'postgres') {
      await sql`create schema pgboss`.execute(db);
      await sql`create table pgboss.job (id text)`.execute(db);
    }
    await message('m_now', 'queued', { updated_at: T0 });
    await message('m_later', 'queued', { scheduled_at: LATER });
    await message('m_retried', 'queued', { attempts: 2 });
    await message('m_sending', 'sending', { attempts: 3, updated_at: T0 });
    await message('m_sent', 'sent');
    await migrate(store.db, store.schema);
    const none = { lease_owner: null, lease_expires_at: null, in_flight_since: null, group_key: 'conn_a' };
    expect(await sendJobs()).toEqual([
      { ...none, id: 'm_later', run_at: LATER, attempts: 0 },
      { ...none, id: 'm_now', run_at: T0, attempts: 0 },
      { ...none, id: 'm_retried', run_at: T0, attempts: 2 },
      {
        id: 'm_sending',
        group_key: 'conn_a',
        run_at: T0,
        attempts: 2,
        lease_owner: 'migration-015',
        lease_expires_at: T0,
        in_flight_since: T0,
      },
    ]);
    // Recovery takes the one being sent (its outcome is unknown); the others are leased as usual.
    const jobs = createJobs(store.db, store.dialect);
    const now = new Date('2026-03-01T12:00:00.000Z');
    expect((await jobs.takeAbandoned('send', now)).map((j) => j.id)).toEqual(['m_sending']);
    expect((await jobs.lease('send', { owner: 'w', limit: 10, now, leaseMs: 60_000 })).map((j) => j.id).sort()).toEqual(
      ['m_now', 'm_retried'],
    );
    if (backend === 'postgres') {
      const schemas = await sql<{
        n: number;
      }>`select count(*)::int as n from information_schema.schemata where schema_name = 'pgboss'`.execute(db);
      expect(schemas.rows[0]!.n).toBe(0);
    }
  });

  it('indexes idempotency keys by expiry, so the cleanup never scans the table', async () => {
    await migrate(store.db, store.schema);
    const indexes =
      backend === 'sqlite'
        ? await sql<{
            name: string;
          }>`select name from sqlite_master where type = 'index' and tbl_name = 'idempotency_keys'`.execute(db)
        : await sql<{
            name: string;
          }>`select indexname as name from pg_indexes where tablename = 'idempotency_keys'`.execute(db);
    expect(indexes.rows.map((r) => r.name)).toContain('idempotency_keys_expires');
  });
});
