import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPgBossSendQueue } from '../../src/queue/pg-boss-queue.js';
import { createSendQueue, type Executor, type SendJob, type SendQueue } from '../../src/queue/send-queue.js';
import { migrate, type Db, type Store } from '../../src/store/db.js';
import { testStore } from '../helpers/store.js';
import { skippable, withoutPostgres } from '../helpers/skip.js';

/**
 * One set of cases for every send queue backend. The table queue decides everything with the `now`
 * it is given, so its clock is virtual and moving it costs nothing. pg-boss decides due-ness and
 * lease expiry with the database clock, so its clock is the real one and moving it sleeps; the
 * cases keep those moves short (leases of 1 s, pg-boss's smallest expiry).
 */
interface TestClock {
  now(): Date;
  advance(ms: number): Promise<void>;
}

interface Harness {
  db: Db;
  queue: SendQueue;
  clock: TestClock;
  close(): Promise<void>;
}

const url = process.env.TEST_DATABASE_URL;

function virtualClock(): TestClock {
  let t = Date.now();
  return { now: () => new Date(t), advance: async (ms) => void (t += ms) };
}

const realClock: TestClock = { now: () => new Date(), advance: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** A migrated test store; closed (its schema dropped) if migrating fails. */
async function migrated(backend: 'sqlite' | 'postgres'): Promise<Store> {
  const store = await testStore(backend);
  try {
    await migrate(store.db, store.schema);
    return store;
  } catch (e) {
    await store.close();
    throw e;
  }
}

const backends: Array<[string, () => Promise<Harness>]> = [
  [
    'table queue, sqlite',
    async () => {
      const store = await migrated('sqlite');
      return {
        db: store.db,
        queue: createSendQueue({ db: store.db, dialect: 'sqlite' }),
        clock: virtualClock(),
        close: () => store.close(),
      };
    },
  ],
];
if (url) {
  backends.push([
    'table queue, postgres',
    async () => {
      const store = await migrated('postgres');
      return {
        db: store.db,
        queue: createSendQueue({ db: store.db, dialect: 'postgres' }),
        clock: virtualClock(),
        close: () => store.close(),
      };
    },
  ]);
  backends.push([
    'pg-boss',
    async () => {
      // One database for the file (installing pg-boss is the slow part), emptied after each case.
      shared ??= migrated('postgres');
      const store = await shared;
      const queue = await createPgBossSendQueue({
        db: store.db,
        connectionString: (store as Store & { url: string }).url,
        onError: (e) => console.error('pg-boss', e),
      });
      return {
        db: store.db,
        queue,
        clock: realClock,
        async close() {
          await queue.stop();
          await sql`TRUNCATE pgboss.job, pgboss.archive, send_jobs_pgboss, send_jobs, message_recipients, message_tags, messages, connections, api_keys, workspaces CASCADE`.execute(
            store.db,
          );
        },
      };
    },
  ]);
}

let shared: Promise<Store> | undefined;
afterAll(async () => {
  if (shared) await (await shared).close();
});
const LEASE_MS = 1000;
/** Past a lease: pg-boss counts whole seconds from its own started_on, slightly after our `now`. */
const PAST_LEASE = LEASE_MS + 300;

describe.each(backends)('send queue contract (%s)', (_name, setup) => {
  let h: Harness;
  /** Set only once setup succeeded, so a failed setup never closes the previous case's harness. */
  let open: Harness | undefined;
  let wsSeq = 0;

  beforeEach(async () => {
    open = undefined;
    h = await setup();
    open = h;
    wsSeq++;
    await h.db
      .insertInto('workspaces')
      .values({ id: 'ws_1', name: `acme-${wsSeq}`, created_at: new Date().toISOString(), default_connection_id: null })
      .execute();
  });
  afterEach(async () => {
    await open?.close();
  });

  const at = (offsetMs: number) => new Date(h.clock.now().getTime() + offsetMs).toISOString();

  async function insertMessage(trx: Executor, id: string, connectionId: string): Promise<void> {
    const iso = new Date().toISOString();
    await trx
      .insertInto('messages')
      .values({
        id,
        workspace_id: 'ws_1',
        connection_id: connectionId,
        api_key_id: null,
        source: 'api',
        status: 'queued',
        from_address: 'a@example.com',
        subject: 's',
        recipients: '{}',
        recipient_count: 1,
        tags: '{}',
        payload: '{}',
        size_bytes: 1,
        scheduled_at: null,
        ses_message_id: null,
        attempts: 0,
        last_error_code: null,
        last_error_message: null,
        last_error_hint: null,
        suppressed: null,
        created_at: iso,
        updated_at: iso,
        sent_at: null,
      })
      .execute();
  }

  /** A message and its job, written in one transaction as the messages service does. */
  async function enqueue(id: string, runAt: string, connectionId = 'conn_a'): Promise<void> {
    await h.db.transaction().execute(async (trx) => {
      await insertMessage(trx, id, connectionId);
      await h.queue.enqueue(trx, { messageId: id, connectionId, runAt, now: h.clock.now().toISOString() });
    });
  }

  const lease = (owner: string, limit = 10, skipConnections: string[] = []) =>
    h.queue.lease({ owner, limit, now: h.clock.now(), leaseMs: LEASE_MS, skipConnections });
  const ids = (jobs: SendJob[]) => jobs.map((j) => j.messageId);
  const claim = (id: string, owner: string) =>
    h.db.transaction().execute((trx) => h.queue.claimForSend(trx, id, owner, h.clock.now()));
  const cancel = (id: string) => h.db.transaction().execute((trx) => h.queue.cancel(trx, id, h.clock.now()));
  const abandoned = () => h.db.transaction().execute((trx) => h.queue.takeAbandonedInFlight(trx, h.clock.now()));

  it('writes no job when the enqueuing transaction rolls back', async () => {
    await expect(
      h.db.transaction().execute(async (trx) => {
        await insertMessage(trx, 'm1', 'conn_a');
        await h.queue.enqueue(trx, { messageId: 'm1', connectionId: 'conn_a', runAt: at(-1000), now: at(0) });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await h.queue.depth()).toBe(0);
    expect(await lease('w1')).toEqual([]);
    // The same message can then be queued for real.
    await enqueue('m1', at(-1000));
    expect(ids(await lease('w1'))).toEqual(['m1']);
  });

  it('enqueues jobs for several connections in one transaction', async () => {
    await h.db.transaction().execute(async (trx) => {
      for (const [id, conn] of [
        ['m1', 'conn_x'],
        ['m2', 'conn_y'],
        ['m3', 'conn_x'],
      ] as const) {
        await insertMessage(trx, id, conn);
        await h.queue.enqueue(trx, {
          messageId: id,
          connectionId: conn,
          runAt: at(-3000 + Number(id.slice(1)) * 1000),
          now: at(0),
        });
      }
    });
    expect(await h.queue.depth()).toBe(3);
    expect(await lease('w1')).toEqual([
      expect.objectContaining({ messageId: 'm1', connectionId: 'conn_x' }),
      expect.objectContaining({ messageId: 'm2', connectionId: 'conn_y' }),
      expect.objectContaining({ messageId: 'm3', connectionId: 'conn_x' }),
    ]);
  });

  it('leases due jobs only; a future job becomes due at its runAt', async () => {
    await enqueue('due', at(-1000));
    await enqueue('later', at(1200));
    const first = await lease('w1');
    expect(first).toEqual([
      { messageId: 'due', connectionId: 'conn_a', runAt: expect.any(String), attempts: 0, inFlightSince: null },
    ]);
    expect(await lease('w2')).toEqual([]);
    await h.db.transaction().execute((trx) => h.queue.finish(trx, 'due'));
    await h.clock.advance(1500);
    expect(ids(await lease('w2'))).toEqual(['later']);
  });

  it('honours the limit and hands out the longest-due jobs first, across connections', async () => {
    await enqueue('m1', at(-50_000), 'conn_a');
    await enqueue('m2', at(-10_000), 'conn_a');
    await enqueue('m3', at(-30_000), 'conn_b');
    await enqueue('m4', at(-40_000), 'conn_a');
    expect(ids(await lease('w1', 2))).toEqual(['m1', 'm4']);
    expect(ids(await lease('w1', 1))).toEqual(['m3']);
    expect(ids(await lease('w1', 5))).toEqual(['m2']);
    expect(await lease('w1', 5)).toEqual([]);
  });

  it('never gives the same job to two concurrent leasers', async () => {
    const all = Array.from({ length: 24 }, (_, i) => `m${String(i).padStart(2, '0')}`);
    for (const [i, id] of all.entries()) await enqueue(id, at(-60_000 + i * 1000), i % 3 ? 'conn_a' : 'conn_b');
    const got = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((w) => lease(w, 8)));
    const flat = got.flatMap(ids);
    expect(new Set(flat).size).toBe(flat.length);
    const rest = ids(await lease('w5', 24));
    expect([...flat, ...rest].sort()).toEqual(all);
  });

  it('makes a leased job available again once the lease runs out', async () => {
    await enqueue('m1', at(-1000));
    expect(ids(await lease('w1'))).toEqual(['m1']);
    expect(await lease('w2')).toEqual([]);
    await h.clock.advance(PAST_LEASE);
    expect(ids(await lease('w2'))).toEqual(['m1']);
    expect(await lease('w3')).toEqual([]);
  });

  it('claims for sending only while the lease is held', async () => {
    await enqueue('m1', at(-2000));
    await enqueue('m2', at(-1000));
    expect(ids(await lease('w1'))).toEqual(['m1', 'm2']);
    expect(await claim('m1', 'w2')).toBe(false); // not the holder
    expect(await claim('m1', 'w1')).toBe(true);
    expect(await claim('m1', 'w1')).toBe(false); // already in flight
    await h.clock.advance(PAST_LEASE);
    expect(await claim('m2', 'w1')).toBe(false); // lease ran out
    expect(ids(await lease('w2'))).toEqual(['m2']);
    expect(await claim('m2', 'w1')).toBe(false); // and another worker holds it now
    expect(await claim('m2', 'w2')).toBe(true);
    expect(await claim('nope', 'w2')).toBe(false);
  });

  it('claims in the caller transaction: a rolled-back claim leaves the job leased, not in flight', async () => {
    await enqueue('m1', at(-1000));
    await lease('w1');
    await expect(
      h.db.transaction().execute(async (trx) => {
        expect(await h.queue.claimForSend(trx, 'm1', 'w1', h.clock.now())).toBe(true);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await claim('m1', 'w1')).toBe(true);
  });

  it('never re-leases an in-flight job; after its lease it comes back from takeAbandonedInFlight', async () => {
    await enqueue('m1', at(-1000));
    await enqueue('m2', at(-1000));
    await lease('w1');
    expect(await claim('m1', 'w1')).toBe(true);
    expect(await abandoned()).toEqual([]);
    await h.clock.advance(PAST_LEASE);
    expect(ids(await lease('w2'))).toEqual(['m2']); // the leased-only one comes back, the in-flight one does not
    const taken = await abandoned();
    expect(taken).toEqual([
      {
        messageId: 'm1',
        connectionId: 'conn_a',
        runAt: expect.any(String),
        attempts: 0,
        inFlightSince: expect.any(String),
      },
    ]);
    expect(await abandoned()).toEqual([]);
    expect(await h.queue.depth()).toBe(1);
    await h.clock.advance(PAST_LEASE);
    expect(ids(await lease('w3'))).toEqual(['m2']);
  });

  it('retries at a time, counting the attempt or not, and clears the lease and in-flight mark', async () => {
    await enqueue('m1', at(-1000));
    await lease('w1');
    expect(await claim('m1', 'w1')).toBe(true);
    await h.queue.retryAt('m1', h.clock.now(), false);
    expect(await lease('w2')).toEqual([expect.objectContaining({ messageId: 'm1', attempts: 0, inFlightSince: null })]);
    expect(await claim('m1', 'w1')).toBe(false); // the old holder lost it
    await h.queue.retryAt('m1', h.clock.now(), true);
    expect(await lease('w3')).toEqual([expect.objectContaining({ messageId: 'm1', attempts: 1 })]);
    await h.queue.retryAt('m1', new Date(h.clock.now().getTime() + 1200), true);
    expect(await lease('w3')).toEqual([]);
    await h.clock.advance(1500);
    expect(await lease('w4')).toEqual([expect.objectContaining({ messageId: 'm1', attempts: 2 })]);
    expect(await claim('m1', 'w4')).toBe(true);
    expect(await h.queue.depth()).toBe(1);
    await h.queue.retryAt('gone', h.clock.now(), true); // no job: nothing happens
    expect(await h.queue.depth()).toBe(1);
  });

  it('finishes a job in the caller transaction', async () => {
    await enqueue('m1', at(-1000));
    await enqueue('m2', at(-1000));
    await lease('w1');
    expect(await claim('m1', 'w1')).toBe(true);
    await h.db.transaction().execute(async (trx) => {
      await h.queue.finish(trx, 'm1');
      await h.queue.finish(trx, 'm2'); // leased, not in flight (e.g. its message was cancelled)
    });
    expect(await h.queue.depth()).toBe(0);
    await h.clock.advance(PAST_LEASE);
    expect(await lease('w2')).toEqual([]);
    expect(await abandoned()).toEqual([]);
  });

  it('cancels queued and leased jobs but not one in flight', async () => {
    await enqueue('queued', at(60_000));
    await enqueue('leased', at(-2000));
    await enqueue('flying', at(-1000));
    expect(ids(await lease('w1'))).toEqual(['leased', 'flying']);
    expect(await claim('flying', 'w1')).toBe(true);
    expect(await cancel('queued')).toBe(true);
    expect(await cancel('leased')).toBe(true);
    expect(await claim('leased', 'w1')).toBe(false);
    expect(await cancel('flying')).toBe(false);
    expect(await cancel('never-queued')).toBe(true);
    expect(await h.queue.depth()).toBe(1);
    // A job abandoned in flight (its lease ran out) may be cancelled.
    await h.clock.advance(PAST_LEASE);
    expect(await cancel('flying')).toBe(true);
    expect(await h.queue.depth()).toBe(0);
    expect(await abandoned()).toEqual([]);
    expect(await lease('w2')).toEqual([]);
  });

  it('leaves the jobs of skipped connections queued', async () => {
    await enqueue('a1', at(-3000), 'conn_a');
    await enqueue('b1', at(-2000), 'conn_b');
    await enqueue('a2', at(-1000), 'conn_a');
    expect(ids(await lease('w1', 10, ['conn_a']))).toEqual(['b1']);
    expect(await lease('w1', 10, ['conn_a', 'conn_b'])).toEqual([]);
    expect(await h.queue.depth()).toBe(3);
    expect(ids(await lease('w2', 10))).toEqual(['a1', 'a2']);
  });

  it('counts every job still to be done in depth: queued, leased and in flight', async () => {
    expect(await h.queue.depth()).toBe(0);
    await enqueue('m1', at(-2000));
    await enqueue('m2', at(-1000));
    await enqueue('m3', at(60_000));
    expect(await h.queue.depth()).toBe(3);
    await lease('w1', 1);
    await claim('m1', 'w1');
    await lease('w1', 1);
    expect(await h.queue.depth()).toBe(3);
    await h.db.transaction().execute((trx) => h.queue.finish(trx, 'm1'));
    expect(await h.queue.depth()).toBe(2);
  });

  it('drops the job with its message', async () => {
    await enqueue('m1', at(-1000));
    await enqueue('m2', at(-1000));
    await h.db.deleteFrom('messages').where('id', '=', 'm1').execute();
    expect(await h.queue.depth()).toBe(1);
    expect(ids(await lease('w1'))).toEqual(['m2']);
  });
});

if (withoutPostgres)
  describe.skip(skippable('send queue contract (table queue, postgres; pg-boss)', withoutPostgres), () => {
    it('runs every case above on PostgreSQL too', () => undefined);
  });
