import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, type Store } from '../../src/store/db.js';
import { createRepositories, type Repositories } from '../../src/store/repos.js';
import type { WarmupPlanSettings } from '../../src/store/warmup.js';
import { backends, testStore } from '../helpers/store.js';

const DAY = '2026-06-01';
const key = { connectionId: 'conn_a', domain: '', day: DAY };

const settings = (over: Partial<WarmupPlanSettings> = {}): WarmupPlanSettings => ({
  schedule: [3, 6],
  startVolume: 3,
  doublingDays: 1,
  startDate: DAY,
  heldDays: 0,
  rolledOn: DAY,
  holdReason: null,
  pausedAt: null,
  updatedAt: `${DAY}T12:00:00.000Z`,
  ...over,
});

describe.each(backends())('warmup repository (%s)', (backend) => {
  let store: Store;
  let repos: Repositories;

  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
    repos = createRepositories(store);
  });
  afterEach(async () => {
    await store.close();
  });

  const upsert = (id: string, domain = '', over: Partial<WarmupPlanSettings> = {}) =>
    repos.warmup.upsert({
      id,
      workspaceId: 'ws_1',
      connectionId: 'conn_a',
      domain,
      createdAt: `${DAY}T12:00:00.000Z`,
      ...settings(over),
    });

  it('takes from a day counter concurrently without ever passing the allowance', async () => {
    await repos.warmup.openDay(key, 0, '2026-05-25');
    const takes = await Promise.all(Array.from({ length: 20 }, () => repos.warmup.take(key, 1, 7)));
    expect(takes.filter(Boolean)).toHaveLength(7);
    expect(await repos.warmup.used(key)).toBe(7);
    // Several at once fit or not as a whole.
    expect(await repos.warmup.take(key, 2, 8)).toBe(false);
    expect(await repos.warmup.take(key, 1, 8)).toBe(true);
  });

  it('lets a message larger than a whole day go alone, as the first of the day', async () => {
    await repos.warmup.openDay(key, 0, '2026-05-25');
    expect(await repos.warmup.take(key, 10, 5)).toBe(true);
    expect(await repos.warmup.take(key, 10, 5)).toBe(false);
    expect(await repos.warmup.take(key, 1, 5)).toBe(false);
    // No counter for the day: nothing is taken.
    expect(await repos.warmup.take({ ...key, day: '2026-06-02' }, 1, 5)).toBe(false);
  });

  it('gives back never below zero; opening a day keeps its counter and drops old ones', async () => {
    await repos.warmup.openDay(key, 4, '2026-05-25');
    await repos.warmup.giveBack(key, 3);
    expect(await repos.warmup.used(key)).toBe(1);
    await repos.warmup.giveBack(key, 3);
    expect(await repos.warmup.used(key)).toBe(0);
    await repos.warmup.openDay(key, 9, '2026-05-25');
    expect(await repos.warmup.used(key)).toBe(0);

    const later = { ...key, day: '2026-06-09' };
    await repos.warmup.openDay(later, 2, '2026-06-02');
    expect(await repos.warmup.used(key)).toBeUndefined();
    expect(await repos.warmup.used(later)).toBe(2);
  });

  it('upsert creates once and then replaces, keeping id, creation time and noted quota', async () => {
    expect(await upsert('wup_1')).toEqual({ id: 'wup_1', created: true });
    await repos.warmup.noteQuota('conn_a', 150);
    const replaced = await upsert('wup_2', '', { schedule: null, startVolume: 50, doublingDays: 2, heldDays: 0 });
    expect(replaced).toEqual({ id: 'wup_1', created: false });
    expect(await repos.warmup.plan('conn_a', '')).toMatchObject({
      id: 'wup_1',
      schedule: null,
      startVolume: 50,
      doublingDays: 2,
      accountQuota: 150,
    });
    // A new plan of the connection starts with the quota another already knows.
    expect(await upsert('wup_3', 'example.com')).toEqual({ id: 'wup_3', created: true });
    expect(await repos.warmup.plan('conn_a', 'example.com')).toMatchObject({ schedule: [3, 6], accountQuota: 150 });
    expect((await repos.warmup.plansOf('conn_a')).map((p) => p.domain)).toEqual(['', 'example.com']);
  });

  it('upserts of one plan at once: exactly one creates it', async () => {
    const rs = await Promise.all(['wup_a', 'wup_b', 'wup_c', 'wup_d'].map((id) => upsert(id, 'example.com')));
    expect(rs.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(rs.map((r) => r.id)).size).toBe(1);
    expect(await repos.warmup.plansOf('conn_a')).toHaveLength(1);
  });

  it('decides a day once: of two rolls from the same day, one wins', async () => {
    await upsert('wup_1');
    const next = { heldDays: 1, rolledOn: '2026-06-02', holdReason: 'paused' };
    const rolls = await Promise.all([
      repos.warmup.roll('wup_1', DAY, next),
      repos.warmup.roll('wup_1', DAY, { ...next, heldDays: 0, holdReason: null }),
    ]);
    expect(rolls.filter(Boolean)).toHaveLength(1);
    expect((await repos.warmup.byId('wup_1'))!.rolledOn).toBe('2026-06-02');
    expect(await repos.warmup.roll('wup_1', DAY, next)).toBe(false);
  });

  it("counts a scope's sent recipients and held messages from the messages, by exact From domain", async () => {
    const msg = (id: string, from: string, over: Record<string, unknown> = {}) => ({
      id,
      workspace_id: 'ws_1',
      connection_id: 'conn_a',
      api_key_id: null,
      source: 'api',
      status: 'sent',
      from_address: from,
      subject: 's',
      recipients: '{}',
      recipient_count: 2,
      tags: '{}',
      payload: '{}',
      size_bytes: 1,
      scheduled_at: null,
      ses_message_id: null,
      attempts: 1,
      last_error_code: null,
      last_error_message: null,
      last_error_hint: null,
      suppressed: null,
      created_at: `${DAY}T10:00:00.000Z`,
      updated_at: `${DAY}T10:00:00.000Z`,
      sent_at: `${DAY}T10:00:00.000Z`,
      ...over,
    });
    const held = { status: 'queued', sent_at: null, last_error_code: 'warmup_held' };
    await sql`INSERT INTO workspaces (id, name, created_at) VALUES ('ws_1', 'ws', ${DAY})`.execute(store.db);
    await sql`
      INSERT INTO connections (id, workspace_id, name, region, mode, status, created_at, updated_at)
      VALUES ('conn_a', 'ws_1', 'prod', 'us-east-1', 'default_chain', 'active', ${DAY}, ${DAY})`.execute(store.db);
    await store.db
      .insertInto('messages')
      .values([
        msg('m1', 'app@example.com'),
        msg('m2', 'Shop <SHOP@Example.com>'),
        msg('m3', 'app@mail.example.com'),
        msg('m4', 'app@example.com', { sent_at: '2026-05-31T23:59:59.000Z' }),
        msg('m5', 'app@example.com', held),
        msg('m6', 'app@other.com', held),
        msg('m7', 'app@example.com', { ...held, last_error_code: 'throttled' }),
      ])
      .execute();
    expect(await repos.warmup.sentOn(key)).toBe(6);
    expect(await repos.warmup.sentOn({ ...key, domain: 'example.com' })).toBe(4);
    expect(await repos.warmup.waiting('conn_a', '', 'warmup_held')).toBe(2);
    expect(await repos.warmup.waiting('conn_a', 'example.com', 'warmup_held')).toBe(1);
  });
});
