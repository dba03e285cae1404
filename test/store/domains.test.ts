import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, type Store } from '../../src/store/db.js';
import type { Domain } from '../../src/store/domains.js';
import { createRepositories, type Repositories } from '../../src/store/repos.js';
import { backends, testStore } from '../helpers/store.js';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const at = (offsetMs: number) => new Date(T0 + offsetMs).toISOString();

function domain(id: string, over: Partial<Domain> = {}): Domain {
  return {
    id,
    workspaceId: 'ws_1',
    connectionId: 'conn_a',
    name: `${id}.example`,
    kind: 'domain',
    origin: 'created',
    status: 'pending',
    dkimOrigin: 'AWS_SES',
    dkimTokens: ['t1', 't2', 't3'],
    dkimPublicKey: null,
    dkimStatus: 'PENDING',
    mailFromDomain: `mail.${id}.example`,
    mailFromStatus: 'PENDING',
    dmarcRua: null,
    checks: {},
    checkedAt: null,
    checkAttempts: 0,
    verifiedAt: null,
    createdAt: at(0),
    updatedAt: at(0),
    ...over,
  };
}

describe.each(backends())('domains repository (%s)', (backend) => {
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

  /** What the domains service does: the domain and its check job, together. */
  const add = (d: Domain, runAt: string | null) =>
    repos.transaction(async (r) => {
      await r.domains.insert(d);
      if (runAt) await r.jobs.enqueue('domain_check', { id: d.id, group: d.connectionId, runAt });
    });
  const lease = (offsetMs: number) =>
    repos.jobs.lease('domain_check', { owner: 'w1', limit: 10, now: new Date(T0 + offsetMs), leaseMs: 60_000 });

  it('domains due for a check are those whose job is due; each shows its job time as the next check', async () => {
    await add(domain('dom_a'), at(-1000));
    await add(domain('dom_b'), at(60_000));
    await add(domain('dom_c', { status: 'verified' }), null);

    const due = await lease(0);
    expect(due.map((j) => j.id)).toEqual(['dom_a']);
    expect(due[0]!.group).toBe('conn_a');
    const rows = await repos.domains.byIds(['dom_a', 'dom_b', 'dom_c']);
    const next = Object.fromEntries(rows.map((d) => [d.id, d.nextCheckAt]));
    expect(next).toEqual({ dom_a: at(-1000), dom_b: at(60_000), dom_c: null });

    // A look moves the job on: not due again until then, and the domain says when.
    await repos.jobs.schedule('domain_check', { id: 'dom_a', group: 'conn_a', runAt: at(120_000) });
    expect((await lease(60_000)).map((j) => j.id)).toEqual(['dom_b']);
    expect((await repos.domains.byId('ws_1', 'dom_a'))!.nextCheckAt).toBe(at(120_000));
    // Only domain_check jobs count: a send job with the same id is not a next check.
    await repos.jobs.enqueue('send', { id: 'dom_c', group: 'conn_a', runAt: at(0) });
    expect((await repos.domains.byId('ws_1', 'dom_c'))!.nextCheckAt).toBeNull();
  });

  it('writes a domain and its check job together or not at all', async () => {
    await expect(
      repos.transaction(async (r) => {
        await r.domains.insert(domain('dom_a'));
        await r.jobs.enqueue('domain_check', { id: 'dom_a', group: 'conn_a', runAt: at(0) });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await repos.domains.byId('ws_1', 'dom_a')).toBeUndefined();
    expect(await repos.jobs.depth('domain_check')).toBe(0);

    await add(domain('dom_a'), at(0));
    await repos.transaction(async (r) => {
      expect(await r.domains.delete('dom_a')).toBe(true);
      expect(await r.jobs.cancel('domain_check', 'dom_a', new Date(T0))).toBe(true);
    });
    expect(await repos.domains.byId('ws_1', 'dom_a')).toBeUndefined();
    expect(await repos.jobs.depth('domain_check')).toBe(0);
  });

  it('decodes tokens and checks once; statuses come back as written', async () => {
    const checks = {
      records: [
        {
          name: 't1._domainkey.dom_a.example',
          type: 'CNAME' as const,
          status: 'mismatch' as const,
          expected: 't1.dkim.amazonses.com',
          found: ['old.dkim.amazonses.com'],
          message: 'different',
          hint: 'change it',
        },
      ],
      problems: [
        {
          code: 'dmarc_missing' as const,
          severity: 'error' as const,
          name: '_dmarc.dom_a.example',
          message: 'm',
          hint: 'h',
        },
      ],
    };
    await add(domain('dom_a'), at(0));
    await repos.domains.recordCheck('dom_a', {
      status: 'verified',
      dkimStatus: 'SUCCESS',
      mailFromStatus: 'SUCCESS',
      checks,
      checkedAt: at(5),
      checkAttempts: 1,
      verifiedAt: at(5),
      updatedAt: at(5),
    });
    const d = (await repos.domains.byId('ws_1', 'dom_a'))!;
    expect(d).toMatchObject({
      status: 'verified',
      dkimStatus: 'SUCCESS',
      mailFromStatus: 'SUCCESS',
      dkimTokens: ['t1', 't2', 't3'],
      checks,
      checkedAt: at(5),
      checkAttempts: 1,
      verifiedAt: at(5),
    });

    await repos.domains.recordFailedLook('dom_a', {
      checkAttempts: 2,
      updatedAt: at(6),
      failed: { checks: { problems: [] } },
    });
    expect(await repos.domains.byId('ws_1', 'dom_a')).toMatchObject({
      status: 'failed',
      checks: { problems: [] },
      checkAttempts: 2,
      checkedAt: at(5),
    });
  });

  it('lists a workspace by name (optionally one connection); names are found per workspace; verified ones per connection', async () => {
    await add(domain('dom_b', { name: 'b.example' }), null);
    await add(domain('dom_a', { name: 'a.example', connectionId: 'conn_b', status: 'verified' }), null);
    await add(domain('dom_c', { name: 'a.example', status: 'verified' }), null);
    await add(domain('dom_d', { name: 'me@c.example', kind: 'email', status: 'verified' }), null);
    await add(domain('dom_x', { name: 'a.example', workspaceId: 'ws_2', connectionId: 'conn_x' }), null);

    expect((await repos.domains.list('ws_1')).map((d) => d.id)).toEqual(['dom_a', 'dom_c', 'dom_b', 'dom_d']);
    expect((await repos.domains.list('ws_1', 'conn_a')).map((d) => d.id)).toEqual(['dom_c', 'dom_b', 'dom_d']);
    expect((await repos.domains.byName('ws_1', 'a.example', 2)).map((d) => d.id)).toEqual(['dom_a', 'dom_c']);
    expect(await repos.domains.byName('ws_1', 'a.example', 1)).toHaveLength(1);
    expect(await repos.domains.byId('ws_2', 'dom_a')).toBeUndefined();
    expect(await repos.domains.exists('conn_a', 'a.example')).toBe(true);
    expect(await repos.domains.exists('conn_x', 'b.example')).toBe(false);
    expect((await repos.domains.verifiedOf('conn_a')).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: 'a.example', kind: 'domain' },
      { name: 'me@c.example', kind: 'email' },
    ]);
  });

  it('keeps the first note of a leftover identity, per connection', async () => {
    const note = { connectionId: 'conn_a', name: 'a.example', workspaceId: 'ws_1', createdAt: at(0) };
    await repos.domains.noteLeftover({ ...note, reason: 'first' });
    await repos.domains.noteLeftover({ ...note, reason: 'second' });
    expect(await repos.domains.leftover('conn_a', 'a.example')).toEqual({ ...note, reason: 'first' });
    expect(await repos.domains.leftover('conn_b', 'a.example')).toBeUndefined();
    await repos.domains.forgetLeftover('conn_a', 'a.example');
    expect(await repos.domains.leftover('conn_a', 'a.example')).toBeUndefined();
  });
});

describe.each(backends())('upgrading domain re-checks to the job queue (%s)', (backend) => {
  let store: Store;
  beforeEach(async () => {
    store = await testStore(backend);
    // The schema as it was before the upgrade under test.
    await migrate(store.db, store.schema, '014_jobs');
  });
  afterEach(async () => {
    await store.close();
  });

  it('turns every pending check into a domain_check job at the same time; verified domains get none', async () => {
    const row = (id: string, next: string | null, status = 'pending') => sql`
      INSERT INTO domains (id, workspace_id, connection_id, name, kind, origin, status, dkim_origin, dkim_tokens,
        dkim_status, checks, check_attempts, next_check_at, created_at, updated_at)
      VALUES (${id}, 'ws_1', 'conn_a', ${`${id}.example`}, 'domain', 'created', ${status}, 'AWS_SES', '[]',
        'PENDING', '{}', 3, ${next}, ${at(0)}, ${at(0)})`;
    await row('dom_a', at(60_000)).execute(store.db);
    await row('dom_b', null, 'verified').execute(store.db);

    await migrate(store.db, store.schema);
    const repos = createRepositories(store);
    const due = await repos.jobs.lease('domain_check', {
      owner: 'w1',
      limit: 10,
      now: new Date(T0 + 60_000),
      leaseMs: 60_000,
    });
    expect(due).toEqual([
      { queue: 'domain_check', id: 'dom_a', group: 'conn_a', runAt: at(60_000), attempts: 0, inFlightSince: null },
    ]);
    const [a, b] = await repos.domains.byIds(['dom_a', 'dom_b']).then((d) => d.sort((x, y) => (x.id < y.id ? -1 : 1)));
    expect(a).toMatchObject({ nextCheckAt: at(60_000), checkAttempts: 3 });
    expect(b).toMatchObject({ nextCheckAt: null, status: 'verified' });
  });
});
