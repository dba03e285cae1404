import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, type Store } from '../../src/store/db.js';
import { backends, testStore } from '../helpers/store.js';

describe.each(backends())('upgrading role connections to the External ID proof (%s)', (backend) => {
  let store: Store;
  beforeEach(async () => {
    store = await testStore(backend);
    // The schema as it was before the upgrade under test.
    await migrate(store.db, store.schema, '009_warmup');
  });
  afterEach(async () => {
    await store.close();
  });

  it('keeps connections whose last test proved the role in use, and stops one whose probe failed', async () => {
    const db = store.db as unknown as Kysely<any>;
    const base = {
      workspace_id: 'ws_1',
      region: 'us-east-1',
      mode: 'role',
      external_id: 'x'.repeat(48),
      role_name: null,
      send_domains: '[]',
      session_duration_seconds: null,
      source_identity: 1,
      sns_topic_arns: '[]',
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
      role_arn_set_at: '2026-01-01T00:00:00.000Z',
      last_tested_at: '2026-01-02T00:00:00.000Z',
    };
    await db
      .insertInto('workspaces')
      .values({ id: 'ws_1', name: 'acme', created_at: base.created_at, default_connection_id: null })
      .execute();
    const arn = (n: string) => `arn:aws:iam::222222222222:role/SesameSES-${n}`;
    await db
      .insertInto('connections')
      .values([
        { ...base, id: 'conn_pass', name: 'pass', status: 'active', role_arn: arn('pass'), last_test_status: 'warn' },
        // Failed for the SES account's state only: the probe passed, so it keeps sending.
        { ...base, id: 'conn_ses', name: 'ses', status: 'failing', role_arn: arn('ses'), last_test_status: 'fail' },
        { ...base, id: 'conn_open', name: 'open', status: 'failing', role_arn: arn('open'), last_test_status: 'fail' },
        // The role ARN changed after the last test: that test says nothing about this role.
        {
          ...base,
          id: 'conn_new',
          name: 'new',
          status: 'untested',
          role_arn: arn('new'),
          role_arn_set_at: '2026-01-03T00:00:00.000Z',
          last_test_status: 'pass',
        },
        { ...base, id: 'conn_never', name: 'never', status: 'untested', role_arn: arn('never'), last_tested_at: null },
      ])
      .execute();
    const tested = (id: string, failed: string[]) => ({
      id: `aud_${id}`,
      workspace_id: 'ws_1',
      connection_id: id,
      actor: 'test',
      action: 'connection.tested',
      outcome: 'fail',
      details: JSON.stringify({ failed, warned: [] }),
      created_at: '2026-01-02T00:00:00.000Z',
    });
    await db
      .insertInto('audit_log')
      .values([tested('conn_ses', ['ses_enforcement']), tested('conn_open', ['external_id_required'])])
      .execute();

    expect(await migrate(store.db, store.schema)).toContain('010_external_id_proof');

    const rows = await store.db.selectFrom('connections').selectAll().orderBy('id').execute();
    const by = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(by.conn_pass).toMatchObject({
      external_id_proven_role_arn: arn('pass'),
      external_id_proven_at: '2026-01-02T00:00:00.000Z',
      role_account_id: '222222222222',
      status: 'active',
    });
    expect(by.conn_ses).toMatchObject({ external_id_proven_role_arn: arn('ses'), status: 'failing' });
    expect(by.conn_open).toMatchObject({
      external_id_proven_role_arn: null,
      status: 'unsafe',
      external_id_check: 'fail',
    });
    expect(by.conn_new).toMatchObject({ external_id_proven_role_arn: null, status: 'untested' });
    expect(by.conn_never).toMatchObject({ external_id_proven_role_arn: null, status: 'untested' });
    const why = await store.db.selectFrom('audit_log').selectAll().where('action', '=', 'connection.unsafe').execute();
    expect(why.map((a) => a.connection_id)).toEqual(['conn_open']);
    expect(JSON.parse(why[0]!.details).reason).toMatch(/can be assumed without this connection's External ID/);
  });
});
