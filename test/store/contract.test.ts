import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { createApiKeys } from '../../src/modules/api-keys/api-keys.js';
import { createAudit } from '../../src/modules/audit/audit.js';
import { createSnsRefusals } from '../../src/modules/events/refusals.js';
import { createWorkspaces } from '../../src/modules/workspaces/workspaces.js';
import { migrate, type Store } from '../../src/store/db.js';
import { createSnsRefusalsRepo } from '../../src/store/events.js';
import { backends, testStore } from '../helpers/store.js';
import { skippable, withoutPostgres } from '../helpers/skip.js';

describe.each(backends())('store contract (%s)', (backend) => {
  let store: Store;
  const clock = manualClock(new Date('2026-03-01T00:00:00Z'));
  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
  });
  afterEach(async () => {
    await store.close();
  });

  it('runs migrations once and is idempotent', async () => {
    expect(await migrate(store.db, store.schema)).toEqual([]);
    const tables = (await store.db.introspection.getTables()).map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(['workspaces', 'api_keys', 'connections', 'audit_log']));
  });

  it('keeps workspace names unique and API keys findable only by their hash', async () => {
    const audit = createAudit({ db: store.db, clock });
    const ws = createWorkspaces({ db: store.db, clock, audit });
    const keys = createApiKeys({ db: store.db, clock, audit });
    const a = await ws.create('acme', 'test');
    await expect(ws.create('acme', 'test')).rejects.toMatchObject({ code: 'conflict' });
    const { key } = await keys.create(a.id, 'k', 'test');
    expect(await keys.authenticate(key)).toMatchObject({ workspaceId: a.id });
    await expect(keys.authenticate(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).rejects.toMatchObject({
      code: 'unauthorized',
    });
    expect((await keys.list(a.id))[0]).toMatchObject({ prefix: key.slice(0, 12), last4: key.slice(-4) });
  });

  it('enforces one connection name per workspace at the database level', async () => {
    const audit = createAudit({ db: store.db, clock });
    const ws = await createWorkspaces({ db: store.db, clock, audit }).create('acme', 'test');
    const row = (id: string) => ({
      id,
      workspace_id: ws.id,
      name: 'prod',
      region: 'us-east-1',
      mode: 'role',
      status: 'untested',
      external_id: null,
      role_arn: null,
      role_arn_set_at: null,
      role_name: null,
      send_domains: '[]',
      session_duration_seconds: null,
      source_identity: 1,
      access_key_id: null,
      secret_ciphertext: null,
      access_key_created_at: null,
      pending_access_key_id: null,
      pending_secret_ciphertext: null,
      secret_arn: null,
      last_assumed_at: null,
      credentials_expire_at: null,
      assumed_role_id: null,
      last_error_code: null,
      last_error_message: null,
      last_error_at: null,
      last_tested_at: null,
      last_test_status: null,
      external_id_rotated_at: null,
      paused_reason: null,
      paused_at: null,
      configuration_set: null,
      sns_topic_arns: '[]',
      created_at: clock.now().toISOString(),
      updated_at: clock.now().toISOString(),
    });
    await store.db.insertInto('connections').values(row('conn_a')).execute();
    await expect(store.db.insertInto('connections').values(row('conn_b')).execute()).rejects.toThrow();
  });

  it('orders and filters the audit log the same way on every backend', async () => {
    const audit = createAudit({ db: store.db, clock });
    for (let i = 0; i < 5; i++) {
      await audit.record({
        workspaceId: 'ws_1',
        connectionId: i % 2 ? 'conn_odd' : 'conn_even',
        actor: 'test',
        action: i < 3 ? 'sts.assume_role' : 'connection.updated',
        details: { i, secretAccessKey: 'never', nested: { sessionToken: 'never' } },
      });
      clock.advance(1000);
    }
    await audit.record({ workspaceId: 'ws_2', actor: 'test', action: 'sts.assume_role' });
    const all = await audit.list({ workspaceId: 'ws_1' });
    expect(all.entries.map((e) => e.details.i)).toEqual([4, 3, 2, 1, 0]);
    expect(JSON.stringify(all)).not.toContain('never');
    expect((await audit.list({ workspaceId: 'ws_1', action: 'sts.*' })).entries).toHaveLength(3);
    expect(
      (await audit.list({ workspaceId: 'ws_1', connectionId: 'conn_odd' })).entries.map((e) => e.details.i),
    ).toEqual([3, 1]);
    expect((await audit.list({ workspaceId: 'ws_1', since: '2026-03-01T00:00:02Z' })).entries).toHaveLength(3);
    const p1 = await audit.list({ workspaceId: 'ws_1', limit: 2 });
    const p2 = await audit.list({ workspaceId: 'ws_1', limit: 2, cursor: p1.nextCursor! });
    const p3 = await audit.list({ workspaceId: 'ws_1', limit: 2, cursor: p2.nextCursor! });
    expect([...p1.entries, ...p2.entries, ...p3.entries].map((e) => e.details.i)).toEqual([4, 3, 2, 1, 0]);
    expect(p3.nextCursor).toBeNull();
  });

  it('counts refused SNS deliveries per hour and code, concurrently, and keeps only the last day', async () => {
    const t = manualClock(new Date('2026-03-01T10:59:00Z'));
    const refusals = createSnsRefusals({ repo: createSnsRefusalsRepo(store.db), clock: t });
    await Promise.all(Array.from({ length: 10 }, (_, i) => refusals.record('conn_1', 'sns_stale', `topic-${i}`)));
    t.advance(2 * 60_000); // the next hour
    await refusals.record('conn_1', 'sns_stale', 'topic-last');
    await refusals.record('conn_1', 'sns_invalid', null);
    await refusals.record('conn_2', 'sns_invalid', null);
    expect(await refusals.summary('conn_1')).toMatchObject({
      total: 12,
      code: 'sns_stale',
      byCode: [
        { code: 'sns_stale', count: 11, lastAt: '2026-03-01T11:01:00.000Z', topicArn: 'topic-last' },
        { code: 'sns_invalid', count: 1, topicArn: null },
      ],
    });
    t.advance(24 * 3_600_000);
    await refusals.record('conn_2', 'sns_invalid', null);
    expect(await refusals.summary('conn_1')).toBeNull();
    expect(await store.db.selectFrom('sns_refusals').select(['connection_id', 'refused']).execute()).toEqual([
      { connection_id: 'conn_2', refused: 1 },
    ]);
  });
});

if (withoutPostgres)
  describe.skip(skippable('store contract (postgres)', withoutPostgres), () => {
    it('runs every case above on PostgreSQL too', () => undefined);
  });
