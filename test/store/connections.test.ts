import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, type Store } from '../../src/store/db.js';
import { type Connection, createConnectionsRepo, type ConnectionsRepo } from '../../src/store/connections.js';
import { createRepositories } from '../../src/store/repos.js';
import { createWorkspacesRepo } from '../../src/store/workspaces.js';
import { fakeKeyId } from '../helpers/fake-keys.js';
import { backends, testStore } from '../helpers/store.js';

const T0 = '2026-03-01T00:00:00.000Z';

function connection(over: Partial<Connection> & Pick<Connection, 'id' | 'workspaceId'>): Connection {
  return {
    name: over.id,
    region: 'us-east-1',
    mode: 'role',
    status: 'untested',
    externalId: 'x'.repeat(48),
    roleArn: 'arn:aws:iam::123456789012:role/SesameSES-prod',
    roleArnSetAt: T0,
    roleName: null,
    sendDomains: [],
    sessionDurationSeconds: null,
    sourceIdentity: true,
    accessKeyId: null,
    secretCiphertext: null,
    accessKeyCreatedAt: null,
    accessKeyAwsCreatedAt: null,
    pendingAccessKeyId: null,
    pendingSecretCiphertext: null,
    secretArn: null,
    lastAssumedAt: null,
    credentialsExpireAt: null,
    assumedRoleId: null,
    lastErrorCode: null,
    lastErrorMessage: null,
    lastErrorAt: null,
    lastTestedAt: null,
    lastTestStatus: null,
    externalIdRotatedAt: null,
    pausedReason: null,
    pausedAt: null,
    configurationSet: null,
    snsTopicArns: [],
    createdAt: T0,
    updatedAt: T0,
    externalIdProvenAt: null,
    externalIdProvenRoleArn: null,
    externalIdCheck: null,
    externalIdCheckedAt: null,
    roleAccountId: null,
    ...over,
  };
}

/** The connections repository on every backend: its codec, its lookups and its conditional updates. */
describe.each(backends())('connections repository (%s)', (backend) => {
  let store: Store;
  let repo: ConnectionsRepo;

  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
    repo = createConnectionsRepo(store.db);
    const workspaces = createWorkspacesRepo(store.db);
    for (const id of ['ws_1', 'ws_2'])
      await workspaces.insert({ id, name: id.replace('_', '-'), createdAt: T0, defaultConnectionId: null });
  });
  afterEach(async () => {
    await store.close();
  });

  it('stores a connection and reads it back decoded: lists, flags and unions as they went in', async () => {
    const c = connection({
      id: 'conn_a',
      workspaceId: 'ws_1',
      name: 'prod',
      sendDomains: ['example.com', 'mail.example.com'],
      snsTopicArns: ['arn:aws:sns:us-east-1:123456789012:sesame-events-conn_a'],
      sourceIdentity: false,
      externalIdCheck: 'pass',
      lastTestStatus: 'warn',
    });
    await repo.insert(c);
    expect(await repo.byId('conn_a')).toEqual(c);
    expect(await repo.find('ws_1', 'prod')).toEqual(c);
    expect(await repo.find('ws_1', 'conn_a')).toEqual(c);
    // Another workspace finds it neither by id nor by name.
    expect(await repo.find('ws_2', 'conn_a')).toBeUndefined();
    expect(await repo.find('ws_2', 'prod')).toBeUndefined();
    expect(await repo.nameTaken('ws_1', 'prod')).toBe(true);
    expect(await repo.nameTaken('ws_2', 'prod')).toBe(false);
  });

  it('reads a list column that is not a JSON list of strings as empty rather than failing', async () => {
    await repo.insert(connection({ id: 'conn_a', workspaceId: 'ws_1' }));
    await store.db
      .updateTable('connections')
      .set({ send_domains: 'not json', sns_topic_arns: '{"a":1}' })
      .where('id', '=', 'conn_a')
      .execute();
    expect(await repo.byId('conn_a')).toMatchObject({ sendDomains: [], snsTopicArns: [] });
  });

  it('keeps one connection name per workspace at the database level', async () => {
    await repo.insert(connection({ id: 'conn_a', workspaceId: 'ws_1', name: 'prod' }));
    await expect(repo.insert(connection({ id: 'conn_b', workspaceId: 'ws_1', name: 'prod' }))).rejects.toThrow();
    await repo.insert(connection({ id: 'conn_c', workspaceId: 'ws_2', name: 'prod' }));
    expect((await repo.list('ws_1')).map((c) => c.id)).toEqual(['conn_a']);
  });

  it('pauses a queue only when it is not paused, and resumes it only when it is', async () => {
    await repo.insert(connection({ id: 'conn_a', workspaceId: 'ws_1' }));
    const pause = (reason: string) => repo.update('conn_a', { pausedReason: reason, pausedAt: T0 }, { paused: false });
    const results = await Promise.all([pause('first'), pause('second')]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const paused = (await repo.byId('conn_a'))!;
    expect(['first', 'second']).toContain(paused.pausedReason);
    expect(await pause('third')).toBe(false);
    expect((await repo.byId('conn_a'))!.pausedReason).toBe(paused.pausedReason);

    const resume = () => repo.update('conn_a', { pausedReason: null, pausedAt: null }, { paused: true });
    expect(await resume()).toBe(true);
    expect(await resume()).toBe(false);
    expect(await repo.byId('conn_a')).toMatchObject({ pausedReason: null, pausedAt: null });
  });

  it('applies a probe outcome only while the role ARN is the one it was made with', async () => {
    const arn = 'arn:aws:iam::123456789012:role/SesameSES-prod';
    await repo.insert(connection({ id: 'conn_a', workspaceId: 'ws_1', roleArn: arn }));
    expect(await repo.update('conn_a', { externalIdCheck: 'pass' }, { roleArn: `${arn}-other` })).toBe(false);
    expect(await repo.update('conn_a', { externalIdCheck: 'pass' }, { roleArn: null })).toBe(false);
    expect((await repo.byId('conn_a'))!.externalIdCheck).toBeNull();
    expect(await repo.update('conn_a', { externalIdCheck: 'pass' }, { roleArn: arn })).toBe(true);
    expect((await repo.byId('conn_a'))!.externalIdCheck).toBe('pass');
  });

  it('turns a connection failing once, never an unsafe one, and records a key date only for the key in use', async () => {
    await repo.insert(connection({ id: 'conn_a', workspaceId: 'ws_1', status: 'active' }));
    await repo.insert(connection({ id: 'conn_u', workspaceId: 'ws_1', status: 'unsafe' }));
    const fail = (id: string) => repo.update(id, { status: 'failing' }, { statusNotIn: ['failing', 'unsafe'] });
    expect(await Promise.all([fail('conn_a'), fail('conn_a')])).toEqual(expect.arrayContaining([true, false]));
    expect(await fail('conn_u')).toBe(false);
    expect((await repo.byId('conn_u'))!.status).toBe('unsafe');
    expect(await repo.update('conn_a', { lastErrorCode: 'aws_access_denied' }, { statusIn: ['failing'] })).toBe(true);
    expect(await repo.update('conn_u', { lastErrorCode: 'aws_access_denied' }, { statusIn: ['failing'] })).toBe(false);

    // The AWS creation date is recorded only for the key still in use.
    const inUse = fakeKeyId('inuse');
    await repo.insert(connection({ id: 'conn_k', workspaceId: 'ws_1', mode: 'access_keys', accessKeyId: inUse }));
    expect(await repo.update('conn_k', { accessKeyAwsCreatedAt: T0 }, { accessKeyId: fakeKeyId('other') })).toBe(false);
    expect(await repo.update('conn_k', { accessKeyAwsCreatedAt: T0 }, { accessKeyId: inUse })).toBe(true);
    expect((await repo.byId('conn_k'))!.accessKeyAwsCreatedAt).toBe(T0);
  });

  it('writes list columns and flags from a patch, and leaves what the patch does not name', async () => {
    await repo.insert(connection({ id: 'conn_a', workspaceId: 'ws_1', name: 'prod', configurationSet: 'mine' }));
    expect(await repo.update('conn_a', { sendDomains: ['b.example'], sourceIdentity: false, name: undefined })).toBe(
      true,
    );
    expect(await repo.byId('conn_a')).toMatchObject({
      name: 'prod',
      sendDomains: ['b.example'],
      sourceIdentity: false,
      configurationSet: 'mine',
    });
    expect(await repo.update('conn_missing', { name: 'x' })).toBe(false);
    expect(await repo.delete('conn_a')).toBe(true);
    expect(await repo.delete('conn_a')).toBe(false);
  });

  it('picks the connection a send names none for: the default, else the only one', async () => {
    const repos = createRepositories(store);
    expect(await repo.defaultCandidates('ws_1')).toEqual([]);
    await repo.insert(connection({ id: 'conn_a', workspaceId: 'ws_1' }));
    expect(await repo.defaultCandidates('ws_1')).toEqual([
      { connection: expect.objectContaining({ id: 'conn_a' }), isDefault: false },
    ]);
    await repo.insert(connection({ id: 'conn_b', workspaceId: 'ws_1' }));
    await repo.insert(connection({ id: 'conn_c', workspaceId: 'ws_2' }));
    expect((await repo.defaultCandidates('ws_1')).map((c) => c.isDefault)).toEqual([false, false]);
    await repos.workspaces.setDefaultConnection('ws_1', 'conn_b');
    const picked = await repo.defaultCandidates('ws_1');
    expect(picked.map((c) => [c.connection.id, c.isDefault])).toEqual([
      ['conn_b', true],
      ['conn_a', false],
    ]);
  });
});
