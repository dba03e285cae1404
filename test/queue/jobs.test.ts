import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job, JobQueue, QueueName } from '../../src/queue/job-queue.js';
import { migrate, type Store } from '../../src/store/db.js';
import { createJobs } from '../../src/store/jobs.js';
import { backends, testStore } from '../helpers/store.js';

/**
 * The one job queue's contract, on every backend. Every decision is made with the `now` it is
 * given, so the clock here is virtual and moving it costs nothing.
 */
const LEASE_MS = 60_000;
const PAST_LEASE = LEASE_MS + 1;

describe.each(backends())('job queue contract (%s)', (backend) => {
  let store: Store;
  let q: JobQueue;
  let t: number;
  const now = () => new Date(t);
  const at = (offsetMs: number) => new Date(t + offsetMs).toISOString();

  beforeEach(async () => {
    store = await testStore(backend);
    await migrate(store.db, store.schema);
    q = createJobs(store.db, store.dialect);
    t = Date.parse('2026-06-01T12:00:00Z');
  });
  afterEach(async () => {
    await store.close();
  });

  const add = (id: string, runAt: string, group = 'conn_a', queue: QueueName = 'send') =>
    q.enqueue(queue, { id, group, runAt });
  const lease = (owner: string, limit = 10, skipGroups: string[] = [], queue: QueueName = 'send') =>
    q.lease(queue, { owner, limit, now: now(), leaseMs: LEASE_MS, skipGroups });
  const ids = (jobs: Job[]) => jobs.map((j) => j.id);
  const claim = (id: string, owner: string) => q.claim('send', id, owner, now(), LEASE_MS);

  it('writes no job when the enqueuing transaction rolls back; enqueue in a transaction commits with it', async () => {
    await expect(
      store.db.transaction().execute(async (trx) => {
        await createJobs(trx, store.dialect).enqueue('send', { id: 'm1', group: 'conn_a', runAt: at(-1000) });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await q.depth('send')).toBe(0);
    await store.db
      .transaction()
      .execute((trx) =>
        createJobs(trx, store.dialect).enqueue('send', { id: 'm1', group: 'conn_a', runAt: at(-1000) }),
      );
    expect(ids(await lease('w1'))).toEqual(['m1']);
  });

  it('keeps queues apart: the same id in two queues, each leased from its own', async () => {
    await add('x1', at(-1000), 'conn_a', 'send');
    await add('x1', at(-1000), 'wh_1', 'webhook');
    expect(await lease('w1', 10, [], 'send')).toEqual([
      { queue: 'send', id: 'x1', group: 'conn_a', runAt: at(-1000), attempts: 0, inFlightSince: null },
    ]);
    expect(ids(await lease('w1', 10, [], 'webhook'))).toEqual(['x1']);
    expect(await lease('w2', 10, [], 'domain_check')).toEqual([]);
    await q.finish('send', 'x1');
    expect(await q.depth('send')).toBe(0);
    expect(await q.depth('webhook')).toBe(1);
  });

  it('leases due jobs only, oldest first, within the limit, skipping the named groups', async () => {
    await add('m1', at(-50_000), 'conn_a');
    await add('m2', at(-10_000), 'conn_a');
    await add('m3', at(-30_000), 'conn_b');
    await add('m4', at(-40_000), 'conn_a');
    await add('later', at(5_000), 'conn_a');
    expect(ids(await lease('w1', 10, ['conn_a']))).toEqual(['m3']);
    expect(ids(await lease('w1', 2))).toEqual(['m1', 'm4']);
    expect(ids(await lease('w1', 5))).toEqual(['m2']);
    expect(await lease('w1', 5)).toEqual([]);
    t += 5_000;
    expect(ids(await lease('w2'))).toEqual(['later']);
  });

  it('hands jobs due at the same time out in the order they were made', async () => {
    const same = at(-1000);
    for (const id of ['a3', 'a1', 'a2']) await add(id, same);
    expect(ids(await lease('w1'))).toEqual(['a1', 'a2', 'a3']);
  });

  it('never gives the same job to two concurrent leasers', async () => {
    const all = Array.from({ length: 24 }, (_, i) => `m${String(i).padStart(2, '0')}`);
    for (const [i, id] of all.entries()) await add(id, at(-60_000 + i * 1000), i % 3 ? 'conn_a' : 'conn_b');
    const got = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((w) => lease(w, 8)));
    const flat = got.flatMap(ids);
    expect(new Set(flat).size).toBe(flat.length);
    const rest = ids(await lease('w5', 24));
    expect([...flat, ...rest].sort()).toEqual(all);
  });

  it('makes a leased job available again once the lease runs out', async () => {
    await add('m1', at(-1000));
    expect(ids(await lease('w1'))).toEqual(['m1']);
    expect(await lease('w2')).toEqual([]);
    t += PAST_LEASE;
    expect(ids(await lease('w2'))).toEqual(['m1']);
  });

  it('claims only while the lease is held; an in-flight job is never leased again, and comes back to recovery', async () => {
    await add('m1', at(-2000));
    await add('m2', at(-1000));
    expect(ids(await lease('w1'))).toEqual(['m1', 'm2']);
    expect(await claim('m1', 'w2')).toBe(false);
    expect(await claim('m1', 'w1')).toBe(true);
    expect(await claim('m1', 'w1')).toBe(false);
    expect(await q.takeAbandoned('send', now())).toEqual([]);
    t += PAST_LEASE;
    expect(await claim('m2', 'w1')).toBe(false);
    expect(ids(await lease('w2'))).toEqual(['m2']);
    const taken = await q.takeAbandoned('send', now());
    expect(taken).toEqual([expect.objectContaining({ id: 'm1', group: 'conn_a', inFlightSince: expect.any(String) })]);
    expect(await q.takeAbandoned('send', now())).toEqual([]);
    expect(await q.depth('send')).toBe(1);
  });

  it('a claim rolled back with its transaction leaves the job leased, not in flight', async () => {
    await add('m1', at(-1000));
    await lease('w1');
    await expect(
      store.db.transaction().execute(async (trx) => {
        expect(await createJobs(trx, store.dialect).claim('send', 'm1', 'w1', now(), LEASE_MS)).toBe(true);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await claim('m1', 'w1')).toBe(true);
  });

  it('retries at a time, counting the attempt or not, and clears the lease and in-flight mark', async () => {
    await add('m1', at(-1000));
    await lease('w1');
    expect(await claim('m1', 'w1')).toBe(true);
    await q.retryAt('send', 'm1', now(), false);
    expect(await lease('w2')).toEqual([expect.objectContaining({ id: 'm1', attempts: 0, inFlightSince: null })]);
    expect(await claim('m1', 'w1')).toBe(false);
    await q.retryAt('send', 'm1', now(), true);
    expect(await lease('w3')).toEqual([expect.objectContaining({ id: 'm1', attempts: 1 })]);
    await q.retryAt('send', 'm1', new Date(t + 1200), true);
    expect(await lease('w3')).toEqual([]);
    expect(await q.nextDue('send')).toBe(at(1200));
    t += 1500;
    expect(await lease('w4')).toEqual([expect.objectContaining({ id: 'm1', attempts: 2 })]);
  });

  it('cancels queued and leased jobs but not one in flight, until its lease runs out', async () => {
    await add('queued', at(60_000));
    await add('leased', at(-2000));
    await add('flying', at(-1000));
    expect(ids(await lease('w1'))).toEqual(['leased', 'flying']);
    expect(await claim('flying', 'w1')).toBe(true);
    expect(await q.cancel('send', 'queued', now())).toBe(true);
    expect(await q.cancel('send', 'leased', now())).toBe(true);
    expect(await claim('leased', 'w1')).toBe(false);
    expect(await q.cancel('send', 'flying', now())).toBe(false);
    expect(await q.cancel('send', 'never-queued', now())).toBe(true);
    t += PAST_LEASE;
    expect(await q.cancel('send', 'flying', now())).toBe(true);
    expect(await q.depth('send')).toBe(0);
  });

  it('finishes in the caller transaction; a finished job, in flight or not, never comes back', async () => {
    await add('m1', at(-1000));
    await add('m2', at(-1000));
    await add('m3', at(-1000));
    await lease('w1');
    expect(await claim('m1', 'w1')).toBe(true);
    await expect(
      store.db.transaction().execute(async (trx) => {
        await createJobs(trx, store.dialect).finish('send', 'm3');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await store.db.transaction().execute(async (trx) => {
      const jobs = createJobs(trx, store.dialect);
      await jobs.finish('send', 'm1');
      await jobs.finish('send', 'm2'); // leased, not in flight (its message was cancelled)
    });
    expect(await q.depth('send')).toBe(1);
    t += PAST_LEASE;
    expect(await q.takeAbandoned('send', now())).toEqual([]);
    expect(ids(await lease('w2'))).toEqual(['m3']);
  });

  it('counts every job still to be done: queued, leased, in flight and not yet due', async () => {
    await add('m1', at(-2000));
    await add('m2', at(-1000));
    await add('m3', at(60_000));
    await add('w1', at(-1000), 'wh_1', 'webhook');
    expect(await q.depth('send')).toBe(3);
    await lease('w1', 1);
    await claim('m1', 'w1');
    await lease('w1', 1);
    expect(await q.depth('send')).toBe(3);
    await q.finish('send', 'm1');
    expect(await q.depth('send')).toBe(2);
    expect(await q.depth('webhook')).toBe(1);
  });

  it('a retry of a job that is gone does nothing; an abandoned job cancelled is not recovered', async () => {
    await q.retryAt('send', 'gone', now(), true);
    expect(await q.depth('send')).toBe(0);
    await add('flying', at(-1000));
    await lease('w1');
    expect(await claim('flying', 'w1')).toBe(true);
    t += PAST_LEASE;
    expect(await q.cancel('send', 'flying', now())).toBe(true);
    expect(await q.takeAbandoned('send', now())).toEqual([]);
    expect(await lease('w2')).toEqual([]);
  });

  it('enqueue leaves an existing job alone; schedule moves it (not while in flight)', async () => {
    await add('d1', at(10_000), 'conn_a', 'domain_check');
    await q.enqueue('domain_check', { id: 'd1', group: 'conn_a', runAt: at(-1000) });
    expect(await lease('w1', 10, [], 'domain_check')).toEqual([]);
    await q.schedule('domain_check', { id: 'd1', group: 'conn_a', runAt: at(-1000) });
    expect(ids(await lease('w1', 10, [], 'domain_check'))).toEqual(['d1']);
    // Scheduled again while leased: the lease is dropped and the new time holds.
    await q.schedule('domain_check', { id: 'd1', group: 'conn_a', runAt: at(-500) });
    expect(ids(await lease('w2', 10, [], 'domain_check'))).toEqual(['d1']);
    expect(await q.claim('domain_check', 'd1', 'w2', now(), LEASE_MS)).toBe(true);
    await q.schedule('domain_check', { id: 'd1', group: 'conn_a', runAt: at(-100) });
    expect(await lease('w3', 10, [], 'domain_check')).toEqual([]);
    await q.schedule('domain_check', { id: 'd2', group: 'conn_b', runAt: at(-100) });
    expect(ids(await lease('w3', 10, [], 'domain_check'))).toEqual(['d2']);
  });
});
