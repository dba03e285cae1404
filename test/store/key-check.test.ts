import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { createEnvelope, type Envelope } from '../../src/crypto/envelope.js';
import { replaceMasterKey, verifyMasterKey, type KeyPlace } from '../../src/crypto/key-check.js';
import { secretContext } from '../../src/modules/webhooks/webhooks.js';
import { migrate, type Store } from '../../src/store/db.js';
import { createKeyCheckRepo } from '../../src/store/key-check.js';
import { backends, testStore } from '../helpers/store.js';

/** The master key check value on every backend: recorded once, then every other key (or none) refused. */
describe.each(backends())('master key check (%s)', (backend) => {
  let store: Store;
  const clock = manualClock(new Date('2026-03-01T00:00:00Z'));
  const place: KeyPlace = { source: 'file', file: '/srv/sesame/data/master.key' };
  const keyA = createEnvelope(randomBytes(32));
  const keyB = createEnvelope(randomBytes(32));
  const none = createEnvelope(undefined);
  const verify = (envelope: Envelope, p: KeyPlace = place) =>
    verifyMasterKey({ repo: createKeyCheckRepo(store.db), clock, envelope, place: p });

  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
  });
  afterEach(async () => {
    await store.close();
  });

  async function webhookSealedUnder(envelope: Envelope, id: string): Promise<void> {
    const now = clock.now().toISOString();
    await store.db
      .insertInto('webhooks')
      .values({
        id,
        workspace_id: 'ws_1',
        url: `https://example.com/${id}`,
        description: null,
        event_types: '["*"]',
        allow_private: 0,
        secret_ciphertext: envelope.seal('whsec_test', secretContext(id)),
        created_at: now,
        updated_at: now,
      })
      .execute();
  }

  it('a new database without a key records nothing; the first key is recorded and then required', async () => {
    expect(await verify(none)).toEqual({ recorded: false, unreadable: [] });
    expect(await verify(keyA)).toEqual({ recorded: true, unreadable: [] });
    expect(await verify(keyA)).toEqual({ recorded: false, unreadable: [] });
    await expect(verify(keyB)).rejects.toMatchObject({
      code: 'master_key_mismatch',
      details: { keyFile: place.file, expectedKeyId: keyA.keyId, configuredKeyId: keyB.keyId },
    });
    await expect(verify(keyB, { ...place, source: 'env' })).rejects.toMatchObject({
      code: 'master_key_mismatch',
      details: { setting: 'SESAME_MASTER_KEY' },
    });
    await expect(verify(none)).rejects.toMatchObject({
      code: 'master_key_missing',
      details: { expectedKeyFile: place.file, expectedKeyId: keyA.keyId },
    });
  });

  it('an older database: the key that opens its secrets is recorded; one that opens none is refused', async () => {
    await webhookSealedUnder(keyA, 'wh_1');
    await expect(verify(none)).rejects.toMatchObject({ code: 'master_key_missing' });
    await expect(verify(keyB)).rejects.toMatchObject({
      code: 'master_key_mismatch',
      details: { expectedKeyId: keyA.keyId },
    });
    expect(await store.db.selectFrom('master_key_check').selectAll().execute()).toEqual([]);
    expect(await verify(keyA)).toEqual({ recorded: true, unreadable: [] });
    await expect(verify(keyB)).rejects.toMatchObject({ code: 'master_key_mismatch' });
  });

  it('secrets sealed under an earlier key are named, and replacing the key records the new one', async () => {
    await webhookSealedUnder(keyA, 'wh_1');
    await webhookSealedUnder(keyB, 'wh_2');
    const r = await verify(keyB);
    expect(r.recorded).toBe(true);
    expect(r.unreadable.map((u) => [u.kind, u.id])).toEqual([['webhook', 'wh_1']]);

    const replaced = await replaceMasterKey({ repo: createKeyCheckRepo(store.db), clock, envelope: keyA });
    expect(replaced.previousKeyId).toBe(keyB.keyId);
    expect(replaced.unreadable.map((u) => u.id)).toEqual(['wh_2']);
    expect(await verify(keyA)).toEqual({ recorded: false, unreadable: [] });
    await expect(verify(keyB)).rejects.toMatchObject({ code: 'master_key_mismatch' });
  });
});
