import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, type Store } from '../../src/store/db.js';
import { createIdempotencyRepo, IdempotencyKeyTaken, type IdempotencyRepo } from '../../src/store/idempotency.js';
import { backends, testStore } from '../helpers/store.js';

describe.each(backends())('idempotency keys repository (%s)', (backend) => {
  let store: Store;
  let repo: IdempotencyRepo;
  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
    repo = createIdempotencyRepo(store.db);
  });
  afterEach(async () => {
    await store.close();
  });

  const rec = (key: string, expiresAt: string, workspaceId = 'ws_a') => ({
    workspaceId,
    key,
    requestHash: 'h',
    response: { status: 202, body: { id: 'msg_1', status: 'queued' } },
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt,
  });

  it('refuses a key taken in the workspace (rolling back the caller), not the same key elsewhere', async () => {
    await repo.insert(rec('k1', '2026-01-02T00:00:00.000Z'));
    await expect(
      store.db.transaction().execute((trx) => createIdempotencyRepo(trx).insert(rec('k1', '2026-01-02T00:00:00.000Z'))),
    ).rejects.toBeInstanceOf(IdempotencyKeyTaken);
    await repo.insert(rec('k1', '2026-01-02T00:00:00.000Z', 'ws_b'));
    expect(await repo.find('ws_a', 'k1')).toMatchObject({
      requestHash: 'h',
      response: { status: 202, body: { id: 'msg_1', status: 'queued' } },
    });
  });

  it('keeps a pending answer until it is completed or forgotten', async () => {
    await repo.insert({ ...rec('batch', '2026-01-02T00:00:00.000Z'), response: { pending: true } });
    expect((await repo.find('ws_a', 'batch'))?.response).toEqual({ pending: true });
    await repo.complete('ws_a', 'batch', { status: 200, body: { data: [] } });
    expect((await repo.find('ws_a', 'batch'))?.response).toEqual({ status: 200, body: { data: [] } });
    await repo.forget('ws_a', 'batch');
    expect(await repo.find('ws_a', 'batch')).toBeUndefined();
  });

  it('deletes only the keys expired before now', async () => {
    await repo.insert(rec('old', '2026-01-01T12:00:00.000Z'));
    await repo.insert(rec('edge', '2026-01-02T00:00:00.000Z'));
    await repo.insert(rec('new', '2026-01-03T00:00:00.000Z'));
    expect(await repo.deleteExpired('2026-01-02T00:00:00.000Z')).toBe(1);
    expect(await repo.find('ws_a', 'old')).toBeUndefined();
    expect(await repo.find('ws_a', 'edge')).toBeDefined();
    expect(await repo.deleteExpired('2026-01-02T00:00:00.000Z')).toBe(0);
  });
});
