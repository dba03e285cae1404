import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Draft } from '../../src/modules/messages/input.js';
import { migrate, type Store } from '../../src/store/db.js';
import { createMessagesRepo, type MessagesRepo, type NewMessage } from '../../src/store/messages.js';
import { backends, testStore } from '../helpers/store.js';

const draft = (to: string, tags: Record<string, string> = {}): Draft => ({
  from: { address: 'app@example.com' },
  to: [{ address: to }],
  cc: [],
  bcc: [],
  replyTo: [],
  subject: 's',
  text: 't',
  headers: [],
  attachments: [],
  tags,
});

describe.each(backends())('messages repository (%s)', (backend) => {
  let store: Store;
  let repo: MessagesRepo;
  let n = 0;

  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
    for (const id of ['ws_a', 'ws_b'])
      await store.db
        .insertInto('workspaces')
        .values({ id, name: id, created_at: '2026-01-01T00:00:00.000Z' })
        .execute();
    repo = createMessagesRepo(store.db);
    n = 0;
  });
  afterEach(async () => {
    await store.close();
  });

  /** Ids sort in creation order, as real message ids do. */
  async function add(o: {
    to: string;
    at: string;
    status?: NewMessage['status'];
    tags?: Record<string, string>;
    workspaceId?: string;
  }): Promise<string> {
    const id = `msg_${String(++n).padStart(3, '0')}`;
    await repo.insert({
      id,
      workspaceId: o.workspaceId ?? 'ws_a',
      connectionId: 'conn_a',
      apiKeyId: null,
      source: 'api',
      status: o.status ?? 'queued',
      from: 'app@example.com',
      subject: 's',
      recipients: { to: [`"X" <${o.to}>`], cc: [], bcc: [] },
      recipientEmails: [o.to.toLowerCase()],
      recipientCount: 1,
      tags: o.tags ?? {},
      draft: draft(o.to, o.tags),
      sizeBytes: 100,
      scheduledAt: null,
      lastError: null,
      suppressed: [],
      createdAt: o.at,
    });
    return id;
  }

  const ids = (page: { data: Array<{ id: string }> }) => page.data.map((m) => m.id);

  it('lists newest first, filtered by status, recipient, tag and creation time, within the workspace', async () => {
    const a = await add({ to: 'ann@customer.test', at: '2026-01-01T10:00:00.000Z', tags: { campaign: 'nov' } });
    const b = await add({ to: 'bob@customer.test', at: '2026-01-02T10:00:00.000Z', status: 'sent' });
    const c = await add({
      to: 'ann@customer.test',
      at: '2026-01-03T10:00:00.000Z',
      status: 'sent',
      tags: { campaign: 'dec' },
    });
    await add({ to: 'ann@customer.test', at: '2026-01-03T11:00:00.000Z', workspaceId: 'ws_b' });

    expect(ids(await repo.list('ws_a', { limit: 10 }))).toEqual([c, b, a]);
    expect(ids(await repo.list('ws_a', { limit: 10, status: 'sent' }))).toEqual([c, b]);
    expect(ids(await repo.list('ws_a', { limit: 10, recipient: 'ann@customer.test' }))).toEqual([c, a]);
    expect(ids(await repo.list('ws_a', { limit: 10, tag: 'campaign=nov' }))).toEqual([a]);
    expect(ids(await repo.list('ws_a', { limit: 10, status: 'sent', recipient: 'ann@customer.test' }))).toEqual([c]);
    expect(
      ids(await repo.list('ws_a', { limit: 10, since: '2026-01-02T10:00:00.000Z', until: '2026-01-03T10:00:00.000Z' })),
    ).toEqual([b]);
    expect(ids(await repo.list('ws_b', { limit: 10, recipient: 'bob@customer.test' }))).toEqual([]);
  });

  it('pages with a cursor: each page ends where the next begins, the last has no cursor', async () => {
    const all: string[] = [];
    for (let i = 0; i < 5; i++)
      all.push(await add({ to: `r${i}@customer.test`, at: `2026-01-0${i + 1}T00:00:00.000Z` }));
    const first = await repo.list('ws_a', { limit: 2 });
    expect(ids(first)).toEqual([all[4], all[3]]);
    expect(first.nextCursor).toBe(all[3]);
    const second = await repo.list('ws_a', { limit: 2, cursor: first.nextCursor! });
    expect(ids(second)).toEqual([all[2], all[1]]);
    const last = await repo.list('ws_a', { limit: 2, cursor: second.nextCursor! });
    expect(ids(last)).toEqual([all[0]]);
    expect(last.nextCursor).toBeNull();
    // A filter and a cursor together.
    expect(ids(await repo.list('ws_a', { limit: 2, cursor: all[3], recipient: 'r4@customer.test' }))).toEqual([]);
  });

  it('decodes what it stored: recipients, tags, last error and the draft for sending (null when unreadable)', async () => {
    const id = await add({ to: 'ann@customer.test', at: '2026-01-01T00:00:00.000Z', tags: { kind: 'invoice' } });
    expect(await repo.get('ws_a', id)).toMatchObject({
      id,
      status: 'queued',
      recipients: { to: ['"X" <ann@customer.test>'], cc: [], bcc: [] },
      tags: { kind: 'invoice' },
      lastError: null,
      suppressed: [],
    });
    expect(await repo.get('ws_b', id)).toBeUndefined();
    const broken = await add({ to: 'bob@customer.test', at: '2026-01-01T00:00:01.000Z' });
    await store.db.updateTable('messages').set({ payload: '{not json' }).where('id', '=', broken).execute();
    const loaded = await repo.forSending([id, broken, 'msg_missing']);
    expect(loaded.get(id)).toMatchObject({
      status: 'queued',
      recipientCount: 1,
      draft: draft('ann@customer.test', { kind: 'invoice' }),
    });
    expect(loaded.get(broken)?.draft).toBeNull();
    expect(loaded.has('msg_missing')).toBe(false);
  });

  it('moves a message only while it is on its way: requeue and fail leave a cancelled or delivered one alone', async () => {
    const at = '2026-01-01T00:00:00.000Z';
    const why = { code: 'ses_throttled', message: 'slow down', hint: 'wait' };
    const queued = await add({ to: 'a@customer.test', at });
    const cancelled = await add({ to: 'b@customer.test', at, status: 'cancelled' });
    expect(await repo.requeue(queued, why, at)).toBe(true);
    expect((await repo.get('ws_a', queued))?.lastError).toEqual(why);
    expect(await repo.requeue(cancelled, why, at)).toBe(false);
    expect(await repo.fail(cancelled, why, at)).toBe(false);
    expect(await repo.get('ws_a', cancelled)).toMatchObject({ status: 'cancelled', lastError: null });

    await repo.markSending(queued, 1, at);
    expect(await repo.fail(queued, why, at)).toBe(true);
    expect(await repo.get('ws_a', queued)).toMatchObject({ status: 'failed', attempts: 1, lastError: why });
    expect(await repo.requeueFailed(queued, at)).toBe(true);
    expect(await repo.requeueFailed(queued, at)).toBe(false);
    expect(await repo.get('ws_a', queued)).toMatchObject({ status: 'queued', lastError: null });
  });

  it('records a send on a message an SES event already moved on, keeping that status', async () => {
    const at = '2026-01-01T00:00:00.000Z';
    const sending = await add({ to: 'a@customer.test', at });
    const delivered = await add({ to: 'b@customer.test', at });
    await repo.markSending(sending, 1, at);
    await repo.markSending(delivered, 1, at);
    expect(await repo.moveStatus(delivered, 'sending', 'delivered', at)).toBe(true);
    await repo.markSent([
      { id: sending, sesMessageId: 'ses-1', at: '2026-01-01T00:00:01.000Z' },
      { id: delivered, sesMessageId: 'ses-2', at: '2026-01-01T00:00:01.000Z' },
    ]);
    expect(await repo.get('ws_a', sending)).toMatchObject({ status: 'sent', sesMessageId: 'ses-1' });
    expect(await repo.get('ws_a', delivered)).toMatchObject({
      status: 'delivered',
      sesMessageId: 'ses-2',
      sentAt: '2026-01-01T00:00:01.000Z',
    });
  });
});
