import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SnsMessage } from '../../src/aws/sns-verify.js';
import { migrate, type Store } from '../../src/store/db.js';
import {
  createMessageEventsRepo,
  createSnsMessagesRepo,
  createSnsRefusalsRepo,
  type MessageEvent,
} from '../../src/store/events.js';
import { backends, testStore } from '../helpers/store.js';

/** The SES events repositories, on every backend, where their queries hold logic. */
describe.each(backends())('SES events repositories (%s)', (backend) => {
  let store: Store;
  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
  });
  afterEach(async () => {
    await store.close();
  });

  const t0 = Date.parse('2026-06-01T12:00:00Z');
  const at = (ms: number) => new Date(t0 + ms);
  const sns = (id: string, message = '{}'): SnsMessage => ({
    Type: 'Notification',
    MessageId: id,
    TopicArn: 'arn:aws:sns:us-east-1:222222222222:t',
    Message: message,
    Timestamp: at(0).toISOString(),
    SignatureVersion: '2',
    Signature: 'sig',
    SigningCertURL: 'https://sns.us-east-1.amazonaws.com/c.pem',
  });

  it('notifications: a replay is refused; due ones come oldest first, without those processed or retried later', async () => {
    const repo = createSnsMessagesRepo(store.db);
    const store_ = (id: string, ms: number) =>
      repo.insert({ connectionId: 'conn_1', workspaceId: 'ws_1', body: sns(id), receivedAt: at(ms).toISOString() });
    expect(await store_('m2', 2000)).toBe(true);
    expect(await store_('m1', 1000)).toBe(true);
    expect(await store_('m3', 3000)).toBe(true);
    expect(await store_('m4', 60_000)).toBe(true);
    expect(await store_('m1', 5000)).toBe(false);

    const due = await repo.due(at(10_000), 10);
    expect(due.map((n) => n.id)).toEqual(['m1', 'm2', 'm3']);
    expect(due[0]).toEqual({
      id: 'm1',
      connectionId: 'conn_1',
      workspaceId: 'ws_1',
      topicArn: 'arn:aws:sns:us-east-1:222222222222:t',
      type: 'Notification',
      body: sns('m1'),
      receivedAt: at(1000).toISOString(),
      attempts: 0,
    });
    expect((await repo.due(at(10_000), 2)).map((n) => n.id)).toEqual(['m1', 'm2']);

    await repo.markProcessed('m1', 'applied', 1, at(10_000).toISOString());
    await repo.retryAt('m2', 1, at(30_000).toISOString());
    expect((await repo.due(at(10_000), 10)).map((n) => n.id)).toEqual(['m3']);
    const later = await repo.due(at(60_000), 10);
    expect(later.map((n) => [n.id, n.attempts])).toEqual([
      ['m2', 1],
      ['m3', 0],
      ['m4', 0],
    ]);
    // Processed is final: a late retry does not bring it back.
    await repo.retryAt('m1', 2, at(0).toISOString());
    expect((await repo.due(at(60_000), 10)).map((n) => n.id)).not.toContain('m1');
  });

  const event = (id: string, over: Partial<MessageEvent> = {}): MessageEvent => ({
    id,
    workspaceId: 'ws_1',
    connectionId: 'conn_1',
    messageId: 'msg_1',
    sesMessageId: 'ses-1',
    kind: 'bounce',
    occurredAt: at(0).toISOString(),
    recipients: ['a@x.test'],
    details: { type: 'Transient', subType: 'MailboxFull', recipients: [] },
    createdAt: at(0).toISOString(),
    ...over,
  });

  it('timeline: one event per notification and kind, in the order they happened, decoded', async () => {
    const repo = createMessageEventsRepo(store.db);
    expect(await repo.insert(event('evt_2', { kind: 'delivery', occurredAt: at(2000).toISOString() }), 'n1')).toBe(
      true,
    );
    expect(await repo.insert(event('evt_1', { occurredAt: at(1000).toISOString() }), 'n2')).toBe(true);
    expect(await repo.insert(event('evt_3', { kind: 'delivery' }), 'n1')).toBe(false);
    expect(await repo.insert(event('evt_4', { messageId: 'msg_2' }), 'n3')).toBe(true);
    expect(await repo.timeline('msg_1')).toEqual([
      {
        kind: 'bounce',
        occurredAt: at(1000).toISOString(),
        recipients: ['a@x.test'],
        details: { type: 'Transient', subType: 'MailboxFull', recipients: [] },
      },
      { kind: 'delivery', occurredAt: at(2000).toISOString(), recipients: ['a@x.test'], details: expect.any(Object) },
    ]);
  });

  it('transient bounces: of this address only (`_` and `%` match themselves), in the workspace, since the time given', async () => {
    const repo = createMessageEventsRepo(store.db);
    let n = 0;
    const bounce = (email: string, ms: number, over: Partial<MessageEvent> = {}) =>
      repo.insert(event(`evt_${++n}`, { recipients: [email], occurredAt: at(ms).toISOString(), ...over }), `n${n}`);
    await bounce('a_b@x.test', 0);
    await bounce('a-b@x.test', 0);
    await bounce('a%b@x.test', 0);
    await bounce('a_b@x.test', -86_400_000); // before the window
    await bounce('a_b@x.test', 0, { workspaceId: 'ws_2' });
    await bounce('a_b@x.test', 0, { details: { type: 'Permanent' } });
    await bounce('a_b@x.test', 0, { kind: 'complaint', details: { type: 'Transient' } });
    await bounce('a_b@x.test', 1000);
    const since = at(-3_600_000).toISOString();
    expect(await repo.transientBounces('ws_1', 'a_b@x.test', since)).toBe(2);
    expect(await repo.transientBounces('ws_1', 'a-b@x.test', since)).toBe(1);
    expect(await repo.transientBounces('ws_1', 'a%b@x.test', since)).toBe(1);
    expect(await repo.transientBounces('ws_2', 'a_b@x.test', since)).toBe(1);
    expect(await repo.transientBounces('ws_1', 'b@x.test', since)).toBe(0);
  });

  it('refusals: counted per code within the last 24 hours (to the hour), most frequent first; pruned after', async () => {
    const repo = createSnsRefusalsRepo(store.db);
    const now = new Date('2026-06-02T12:30:00Z');
    const ago = (h: number, m = 0) => new Date(now.getTime() - h * 3_600_000 - m * 60_000);
    await Promise.all(Array.from({ length: 5 }, (_, i) => repo.count('conn_1', 'sns_stale', `topic-${i}`, ago(1))));
    await repo.count('conn_1', 'sns_stale', 'topic-last', ago(0, 10));
    await repo.count('conn_1', 'sns_invalid', null, ago(23, 20)); // 13:10 yesterday: the oldest hour kept
    await repo.count('conn_1', 'sns_invalid', null, ago(23, 31)); // 12:59 yesterday: out of the window
    await repo.count('conn_1', 'sns_future', 'x'.repeat(400), ago(2));
    await repo.count('conn_2', 'sns_stale', null, ago(0));
    expect(await repo.recent('conn_1', now)).toEqual([
      { code: 'sns_stale', count: 6, lastAt: ago(0, 10).toISOString(), topicArn: 'topic-last' },
      { code: 'sns_future', count: 1, lastAt: ago(2).toISOString(), topicArn: 'x'.repeat(256) },
      { code: 'sns_invalid', count: 1, lastAt: ago(23, 20).toISOString(), topicArn: null },
    ]);
    expect(await repo.recent('conn_3', now)).toEqual([]);

    await repo.prune(now);
    const kept = await store.db.selectFrom('sns_refusals').select(['connection_id', 'hour']).execute();
    expect(kept.map((r) => r.hour).sort()[0]).toBe('2026-06-01T13');
    expect(await repo.recent('conn_1', new Date(now.getTime() + 24 * 3_600_000))).toEqual([]);
  });
});
