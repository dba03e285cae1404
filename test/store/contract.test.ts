import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { createSnsRefusals } from '../../src/modules/events/refusals.js';
import { migrate, type Store } from '../../src/store/db.js';
import { createSnsRefusalsRepo } from '../../src/store/events.js';
import { backends, testStore } from '../helpers/store.js';
import { skippable, withoutPostgres } from '../helpers/skip.js';

describe.each(backends())('store contract (%s)', (backend) => {
  let store: Store;
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
