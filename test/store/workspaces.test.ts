import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { createApiKeys } from '../../src/modules/api-keys/api-keys.js';
import { createAudit } from '../../src/modules/audit/audit.js';
import { createWorkspaces } from '../../src/modules/workspaces/workspaces.js';
import { migrate, type Store } from '../../src/store/db.js';
import { createRepositories, type Repositories } from '../../src/store/repos.js';
import { backends, testStore } from '../helpers/store.js';

const T0 = '2026-03-01T00:00:00.000Z';

/** Workspaces and API keys on every backend: unique names, the key found by its hash, revocation once. */
describe.each(backends())('workspaces and API keys (%s)', (backend) => {
  let store: Store;
  let repos: Repositories;
  let clock: ReturnType<typeof manualClock>;

  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
    repos = createRepositories(store);
    clock = manualClock(new Date(T0));
  });
  afterEach(async () => {
    await store.close();
  });

  const services = () => {
    const audit = createAudit({ repo: repos.audit, clock });
    return {
      audit,
      workspaces: createWorkspaces({ repo: repos.workspaces, clock, audit }),
      keys: createApiKeys({ repo: repos.apiKeys, clock, audit }),
    };
  };

  it('keeps workspace names unique, even when two are created at once, and finds one by id or name', async () => {
    const { workspaces } = services();
    const results = await Promise.allSettled([workspaces.create('acme', 'test'), workspaces.create('acme', 'test')]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'conflict' } });
    const [acme] = await workspaces.list();
    expect(await workspaces.get('acme')).toEqual(acme);
    expect(await workspaces.get(acme!.id)).toEqual(acme);
    await expect(workspaces.get('other')).rejects.toMatchObject({ code: 'not_found' });
    await repos.workspaces.ping();
  });

  it('adopts a default connection only while the workspace has none, or only a deleted one', async () => {
    await repos.workspaces.insert({ id: 'ws_1', name: 'one', createdAt: T0, defaultConnectionId: null });
    const insert = (id: string) =>
      store.db
        .insertInto('connections')
        .values({
          id,
          workspace_id: 'ws_1',
          name: id,
          region: 'us-east-1',
          mode: 'default_chain',
          status: 'untested',
          send_domains: '[]',
          sns_topic_arns: '[]',
          source_identity: 0,
          created_at: T0,
          updated_at: T0,
        } as never)
        .execute();
    await insert('conn_a');
    expect(await repos.workspaces.adoptDefaultConnection('ws_1', 'conn_a')).toBe(true);
    await insert('conn_b');
    expect(await repos.workspaces.adoptDefaultConnection('ws_1', 'conn_b')).toBe(false);
    expect((await repos.workspaces.find('ws_1'))!.defaultConnectionId).toBe('conn_a');
    await repos.connections.delete('conn_a');
    expect(await repos.workspaces.adoptDefaultConnection('ws_1', 'conn_b')).toBe(true);
    expect((await repos.workspaces.find('one'))!.defaultConnectionId).toBe('conn_b');
  });

  it('finds a key by the hash of the whole key only; a revoked key no longer authenticates', async () => {
    const { workspaces, keys } = services();
    const a = await workspaces.create('acme', 'test');
    const { key, info } = await keys.create(a.id, 'k', 'test', { scopes: ['read', 'manage'] });
    expect(info).toMatchObject({
      workspaceId: a.id,
      prefix: key.slice(0, 12),
      last4: key.slice(-4),
      scopes: ['read', 'manage'],
      connectionIds: null,
    });
    expect(await keys.authenticate(key)).toEqual({
      workspaceId: a.id,
      apiKeyId: info.id,
      prefix: key.slice(0, 12),
      name: 'k',
      scopes: ['read', 'manage'],
      connectionIds: null,
    });
    // Same prefix and shape, another secret: not that key.
    await expect(keys.authenticate(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).rejects.toMatchObject({
      code: 'unauthorized',
    });
    const stored = await repos.apiKeys.find(a.id, info.id);
    expect(stored).toMatchObject({ prefix: key.slice(0, 12), scopes: ['read', 'manage'] });
    expect(stored!.hash).not.toContain(key.slice(13));
    expect(await repos.apiKeys.byHash(stored!.hash)).toEqual(stored);

    const revoked = await Promise.all([keys.revoke(a.id, info.id, 'test'), keys.revoke(a.id, info.id, 'test')]);
    expect(revoked.map((r) => r.revokedAt)).toEqual([T0, T0]);
    await expect(keys.authenticate(key)).rejects.toMatchObject({ code: 'unauthorized' });
    expect(await repos.apiKeys.revoke(a.id, info.id, T0)).toBe(false);
    const audited = await services().audit.list({ workspaceId: a.id, action: 'api_key.revoked' });
    expect(audited.entries).toHaveLength(1);
    // A key of another workspace is not found there.
    await expect(keys.revoke('ws_other', info.id, 'test')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('records the last use at most once a minute', async () => {
    const { workspaces, keys } = services();
    const a = await workspaces.create('acme', 'test');
    const { key, info } = await keys.create(a.id, 'k', 'test');
    const lastUsed = async () => (await keys.list(a.id)).find((k) => k.id === info.id)!.lastUsedAt;
    await keys.authenticate(key);
    expect(await lastUsed()).toBe(T0);
    clock.advance(30_000);
    await keys.authenticate(key);
    expect(await lastUsed()).toBe(T0);
    clock.advance(31_000);
    await keys.authenticate(key);
    expect(await lastUsed()).toBe('2026-03-01T00:01:01.000Z');
    // A use recorded meanwhile by another process is not overwritten by an older one.
    expect(await repos.apiKeys.touch(info.id, '2026-03-01T00:01:30.000Z', '2026-03-01T00:00:30.000Z')).toBe(false);
    expect(await repos.apiKeys.touch(info.id, '2026-03-01T00:02:30.000Z', '2026-03-01T00:01:30.000Z')).toBe(true);
  });
});
