import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { createAudit } from '../../src/modules/audit/audit.js';
import { createAuditRepo } from '../../src/store/audit.js';
import { migrate, type Store } from '../../src/store/db.js';
import { backends, testStore } from '../helpers/store.js';

/** The audit log on every backend: newest first, its filters, its cursor, and never a secret. */
describe.each(backends())('audit log (%s)', (backend) => {
  let store: Store;
  let clock: ReturnType<typeof manualClock>;
  let audit: ReturnType<typeof createAudit>;

  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
    clock = manualClock(new Date('2026-03-01T00:00:00Z'));
    audit = createAudit({ repo: createAuditRepo(store.db), clock });
  });
  afterEach(async () => {
    await store.close();
  });

  /** Five entries a second apart in ws_1 (details.i = 0…4), one in ws_2. */
  async function five(): Promise<void> {
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
  }
  const is = (entries: Array<{ details: Record<string, unknown> }>) => entries.map((e) => e.details.i);

  it('lists a workspace newest first with its details decoded and scrubbed', async () => {
    await five();
    const all = await audit.list({ workspaceId: 'ws_1' });
    expect(is(all.entries)).toEqual([4, 3, 2, 1, 0]);
    expect(all.entries[0]).toMatchObject({
      workspaceId: 'ws_1',
      connectionId: 'conn_even',
      actor: 'test',
      action: 'connection.updated',
      outcome: 'ok',
      details: { i: 4, nested: {} },
      createdAt: '2026-03-01T00:00:04.000Z',
    });
    expect(JSON.stringify(all)).not.toContain('never');
    expect((await audit.list({ workspaceId: 'ws_2' })).entries).toHaveLength(1);
    expect(all.nextCursor).toBeNull();
  });

  it('filters by connection, by action or action prefix, and by time (since inclusive, until exclusive)', async () => {
    await five();
    expect(is((await audit.list({ workspaceId: 'ws_1', action: 'sts.*' })).entries)).toEqual([2, 1, 0]);
    expect(is((await audit.list({ workspaceId: 'ws_1', action: 'connection.updated' })).entries)).toEqual([4, 3]);
    expect((await audit.list({ workspaceId: 'ws_1', action: 'sts.assume' })).entries).toEqual([]);
    expect(is((await audit.list({ workspaceId: 'ws_1', connectionId: 'conn_odd' })).entries)).toEqual([3, 1]);
    expect(is((await audit.list({ workspaceId: 'ws_1', since: '2026-03-01T00:00:02Z' })).entries)).toEqual([4, 3, 2]);
    expect(is((await audit.list({ workspaceId: 'ws_1', until: '2026-03-01T00:00:02Z' })).entries)).toEqual([1, 0]);
    // Bounds are compared as times, whatever offset they are written with.
    expect(
      is(
        (await audit.list({ workspaceId: 'ws_1', since: '2026-03-01T01:00:01+01:00', until: '2026-03-01T00:00:03Z' }))
          .entries,
      ),
    ).toEqual([2, 1]);
    await expect(audit.list({ workspaceId: 'ws_1', since: 'yesterday' })).rejects.toMatchObject({
      code: 'validation_failed',
    });
  });

  it('takes an action prefix literally: "_" and "%" in it match only themselves', async () => {
    for (const action of ['connection.external_id_rotated', 'connection.externalXid', 'webhook%.x'])
      await audit.record({ workspaceId: 'ws_1', actor: 'test', action });
    const actions = async (prefix: string) =>
      (await audit.list({ workspaceId: 'ws_1', action: prefix })).entries.map((e) => e.action);
    expect(await actions('connection.external_*')).toEqual(['connection.external_id_rotated']);
    expect(await actions('webhook%*')).toEqual(['webhook%.x']);
    expect(await actions('web%*')).toEqual([]);
  });

  it('pages with a cursor, filters still applied, until the last page says there is no more', async () => {
    await five();
    const p1 = await audit.list({ workspaceId: 'ws_1', limit: 2 });
    const p2 = await audit.list({ workspaceId: 'ws_1', limit: 2, cursor: p1.nextCursor! });
    const p3 = await audit.list({ workspaceId: 'ws_1', limit: 2, cursor: p2.nextCursor! });
    expect([p1, p2, p3].map((p) => is(p.entries))).toEqual([[4, 3], [2, 1], [0]]);
    expect(p3.nextCursor).toBeNull();
    const s1 = await audit.list({ workspaceId: 'ws_1', action: 'sts.*', limit: 2 });
    const s2 = await audit.list({ workspaceId: 'ws_1', action: 'sts.*', limit: 2, cursor: s1.nextCursor! });
    expect([is(s1.entries), is(s2.entries), s2.nextCursor]).toEqual([[2, 1], [0], null]);
  });
});
