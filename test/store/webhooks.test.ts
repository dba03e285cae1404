import { type Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, type Store } from '../../src/store/db.js';
import { createJobs } from '../../src/store/jobs.js';
import * as m017 from '../../src/store/migrations/017_webhook_jobs.js';
import { createWebhooksRepo, type NewDelivery, type Webhook } from '../../src/store/webhooks.js';
import { backends, testStore } from '../helpers/store.js';

/** The webhooks repository, and the move of its deliveries onto the job queue, on every backend. */
describe.each(backends())('webhooks repository (%s)', (backend) => {
  let store: Store;
  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
  });
  afterEach(async () => {
    await store.close();
  });

  const t0 = Date.parse('2026-06-01T12:00:00Z');
  const iso = (ms: number) => new Date(t0 + ms).toISOString();
  const hook = (
    id: string,
    eventTypes: Webhook['eventTypes'],
    workspaceId = 'ws_1',
  ): Webhook & { secretCiphertext: string } => ({
    id,
    workspaceId,
    url: `https://93.184.215.14/${id}`,
    description: null,
    eventTypes,
    allowPrivate: false,
    createdAt: iso(0),
    updatedAt: iso(0),
    secretCiphertext: `sealed-${id}`,
  });
  const delivery = (id: string, webhookId: string, eventId: string): NewDelivery => ({
    id,
    webhookId,
    workspaceId: 'ws_1',
    eventId,
    eventType: 'bounce',
    payload: {
      id: eventId,
      type: 'bounce',
      createdAt: iso(0),
      data: {
        messageId: null,
        sesMessageId: 'ses-1',
        connectionId: 'conn_1',
        recipients: ['a@x.test'],
        occurredAt: iso(0),
        details: { type: 'Permanent' },
      },
    },
    expiresAt: iso(86_400_000),
    createdAt: iso(0),
  });

  it('finds the webhooks that take a kind, decoded; one delivery per webhook and event', async () => {
    const repo = createWebhooksRepo(store.db);
    await repo.insert(hook('wh_1', ['bounce', 'complaint']));
    await repo.insert(hook('wh_2', ['*']));
    await repo.insert(hook('wh_3', ['delivery']));
    await repo.insert(hook('wh_4', ['*'], 'ws_2'));
    expect((await repo.subscribed('ws_1', 'bounce')).map((w) => w.id)).toEqual(['wh_1', 'wh_2']);
    expect((await repo.subscribed('ws_1', 'delivery')).map((w) => w.id)).toEqual(['wh_2', 'wh_3']);
    expect(await repo.find('ws_1', 'wh_1')).toEqual({
      id: 'wh_1',
      workspaceId: 'ws_1',
      url: 'https://93.184.215.14/wh_1',
      description: null,
      eventTypes: ['bounce', 'complaint'],
      allowPrivate: false,
      createdAt: iso(0),
      updatedAt: iso(0),
    });
    expect(await repo.find('ws_2', 'wh_1')).toBeUndefined();

    expect(await repo.addDeliveries([delivery('whd_1', 'wh_1', 'evt_1'), delivery('whd_2', 'wh_2', 'evt_1')])).toEqual([
      'whd_1',
      'whd_2',
    ]);
    expect(await repo.addDeliveries([delivery('whd_3', 'wh_1', 'evt_1'), delivery('whd_4', 'wh_1', 'evt_2')])).toEqual([
      'whd_4',
    ]);
    const due = await repo.due(['whd_1', 'whd_4', 'whd_nope']);
    expect(due.map((d) => d.id).sort()).toEqual(['whd_1', 'whd_4']);
    expect(due.find((d) => d.id === 'whd_1')).toEqual({
      id: 'whd_1',
      webhookId: 'wh_1',
      workspaceId: 'ws_1',
      payload: delivery('whd_1', 'wh_1', 'evt_1').payload,
      attempts: 0,
      expiresAt: iso(86_400_000),
      url: 'https://93.184.215.14/wh_1',
      allowPrivate: false,
      secretCiphertext: 'sealed-wh_1',
    });
  });

  it('lists deliveries newest first, by status, page by page, with the next attempt from the queue', async () => {
    const repo = createWebhooksRepo(store.db);
    const jobs = createJobs(store.db, store.dialect);
    await repo.insert(hook('wh_1', ['*']));
    await repo.insert(hook('wh_2', ['*']));
    const ids = Array.from({ length: 5 }, (_, i) => `whd_${i}`);
    await repo.addDeliveries(ids.map((id, i) => delivery(id, 'wh_1', `evt_${i}`)));
    await repo.addDeliveries([delivery('whd_other', 'wh_2', 'evt_0')]);
    for (const id of ids) await jobs.enqueue('webhook', { id, group: 'wh_1', runAt: iso(0) });
    const outcome = (id: string, status: 'pending' | 'delivered' | 'failed', n: number) =>
      repo.recordAttempt({
        id: `wha_${id}_${n}`,
        deliveryId: id,
        webhookId: 'wh_1',
        workspaceId: 'ws_1',
        attempt: n,
        at: iso(n * 1000),
        durationMs: 12,
        statusCode: status === 'delivered' ? 200 : 500,
        error: status === 'delivered' ? null : 'HTTP 500',
        responseExcerpt: 'ok',
        status,
        finishedAt: status === 'pending' ? null : iso(n * 1000),
      });
    expect(await outcome('whd_1', 'delivered', 1)).toBe(true);
    await jobs.finish('webhook', 'whd_1');
    expect(await outcome('whd_3', 'pending', 1)).toBe(true);
    await jobs.retryAt('webhook', 'whd_3', new Date(t0 + 30_000), true);
    expect(await outcome('whd_3', 'failed', 2)).toBe(true);
    await jobs.finish('webhook', 'whd_3');
    expect(await outcome('whd_4', 'pending', 1)).toBe(true);
    await jobs.retryAt('webhook', 'whd_4', new Date(t0 + 45_000), true);
    expect(await outcome('whd_gone', 'delivered', 1)).toBe(false);

    const p1 = await repo.deliveries('ws_1', 'wh_1', { limit: 2 });
    expect(p1.data.map((d) => d.id)).toEqual(['whd_4', 'whd_3']);
    expect(p1.data[0]).toEqual({
      id: 'whd_4',
      webhookId: 'wh_1',
      eventId: 'evt_4',
      eventType: 'bounce',
      status: 'pending',
      attempts: 1,
      nextAttemptAt: iso(45_000),
      expiresAt: iso(86_400_000),
      lastAttemptAt: iso(1000),
      lastStatusCode: 500,
      lastError: 'HTTP 500',
      finishedAt: null,
      createdAt: iso(0),
    });
    expect(p1.data[1]).toMatchObject({ status: 'failed', attempts: 2, nextAttemptAt: null, finishedAt: iso(2000) });
    const p2 = await repo.deliveries('ws_1', 'wh_1', { limit: 2, cursor: p1.nextCursor! });
    expect(p2.data.map((d) => d.id)).toEqual(['whd_2', 'whd_1']);
    const p3 = await repo.deliveries('ws_1', 'wh_1', { limit: 2, cursor: p2.nextCursor! });
    expect(p3).toEqual({ data: [expect.objectContaining({ id: 'whd_0', nextAttemptAt: iso(0) })], nextCursor: null });

    const pending = await repo.deliveries('ws_1', 'wh_1', { status: 'pending', limit: 2 });
    expect(pending.data.map((d) => d.id)).toEqual(['whd_4', 'whd_2']);
    expect(
      (await repo.deliveries('ws_1', 'wh_1', { status: 'pending', limit: 2, cursor: pending.nextCursor! })).data.map(
        (d) => d.id,
      ),
    ).toEqual(['whd_0']);
    expect((await repo.deliveries('ws_1', 'wh_1', { status: 'failed', limit: 10 })).data.map((d) => d.id)).toEqual([
      'whd_3',
    ]);
    expect((await repo.deliveries('ws_2', 'wh_1', { limit: 10 })).data).toEqual([]);
    expect((await repo.attempts(['whd_3', 'whd_1'])).map((a) => [a.deliveryId, a.attempt, a.statusCode])).toEqual([
      ['whd_1', 1, 200],
      ['whd_3', 1, 500],
      ['whd_3', 2, 500],
    ]);

    // Only deliveries still pending are tried; one expired fails with the reason when never attempted.
    expect((await repo.due(ids)).map((d) => d.id).sort()).toEqual(['whd_0', 'whd_2', 'whd_4']);
    await repo.expire('whd_0', iso(86_400_000), true);
    await repo.expire('whd_1', iso(86_400_000), true);
    expect((await repo.deliveries('ws_1', 'wh_1', { limit: 10 })).data.find((d) => d.id === 'whd_0')).toMatchObject({
      status: 'failed',
      lastError: 'expired before it could be attempted',
      finishedAt: iso(86_400_000),
    });
    expect((await repo.deliveries('ws_1', 'wh_1', { limit: 10 })).data.find((d) => d.id === 'whd_1')).toMatchObject({
      status: 'delivered',
    });

    expect((await repo.pendingDeliveryIds('wh_1')).sort()).toEqual(['whd_2', 'whd_4']);
    expect(await repo.remove('ws_2', 'wh_1')).toBe(false);
    expect(await repo.remove('ws_1', 'wh_1')).toBe(true);
    expect(await repo.find('ws_1', 'wh_1')).toBeUndefined();
    expect(await repo.attempts(ids)).toEqual([]);
    expect((await repo.deliveries('ws_1', 'wh_2', { limit: 10 })).data.map((d) => d.id)).toEqual(['whd_other']);
  });

  it('migration 017 queues every pending delivery at its retry time and drops the column', async () => {
    // Back to the table as it was, with deliveries in every state.
    await m017.down(store.db as unknown as Kysely<unknown>);
    const repo = createWebhooksRepo(store.db);
    await repo.insert(hook('wh_1', ['*']));
    for (const [id, status, next, attempts] of [
      ['whd_1', 'pending', iso(30_000), 2],
      ['whd_2', 'delivered', iso(0), 1],
      ['whd_3', 'failed', iso(0), 9],
      ['whd_4', 'pending', iso(0), 0],
    ] as const)
      await sql`
        insert into webhook_deliveries
          (id, webhook_id, workspace_id, event_id, event_type, payload, status, attempts, next_attempt_at, expires_at, created_at)
        values (${id}, 'wh_1', 'ws_1', ${`evt_${id}`}, 'bounce', '{}', ${status}, ${attempts}, ${next}, ${iso(86_400_000)}, ${iso(0)})
      `.execute(store.db);
    await m017.up(store.db as unknown as Kysely<unknown>);

    const jobs = createJobs(store.db, store.dialect);
    expect(await jobs.depth('webhook')).toBe(2);
    const leased = await jobs.lease('webhook', { owner: 'w', limit: 10, now: new Date(t0 + 60_000), leaseMs: 1000 });
    expect(leased.map((j) => [j.id, j.group, j.runAt, j.attempts])).toEqual([
      ['whd_4', 'wh_1', iso(0), 0],
      ['whd_1', 'wh_1', iso(30_000), 2],
    ]);
    const columns = (await store.db.introspection.getTables())
      .find((t) => t.name === 'webhook_deliveries')!
      .columns.map((c) => c.name);
    expect(columns).not.toContain('next_attempt_at');
    expect((await repo.deliveries('ws_1', 'wh_1', { limit: 10 })).data.map((d) => [d.id, d.nextAttemptAt])).toEqual([
      ['whd_4', iso(0)],
      ['whd_3', null],
      ['whd_2', null],
      ['whd_1', iso(30_000)],
    ]);
  });
});
