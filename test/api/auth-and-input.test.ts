import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.js';
import { fakeKeyId } from '../helpers/fake-keys.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const count = async (table: 'connections' | 'api_keys' | 'audit_log') =>
  Number(
    (
      await h.container.store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('API keys and workspaces', () => {
  it('requires a valid key on every /v1 route and answers with the error shape', async () => {
    for (const key of [null, 'nonsense', `ses_AAAAAAAA_${'B'.repeat(40)}`]) {
      const res = await h.call('GET', '/v1/connections', undefined, { key });
      expect(res.status).toBe(401);
      expect(res.json).toMatchObject({
        error: { code: 'unauthorized', message: expect.any(String), hint: expect.stringContaining('Bearer') },
        requestId: expect.stringMatching(/^req_/),
      });
    }
    expect((await h.call('GET', '/healthz', undefined, { key: null })).json).toEqual({ status: 'ok' });
  });

  it('shows a key once, lists only prefix and last 4, and refuses it once revoked', async () => {
    const created = await h.call('POST', '/v1/api-keys', { name: 'deploy bot', scopes: ['admin'] });
    expect(created.status).toBe(201);
    const key: string = created.json.key;
    expect(key).toMatch(/^ses_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}$/);
    const list = await h.call('GET', '/v1/api-keys');
    expect(list.text).not.toContain(key);
    const info = list.json.data.find((k: any) => k.id === created.json.id);
    expect(info).toMatchObject({ prefix: key.slice(0, 12), last4: key.slice(-4), revokedAt: null });
    const row = await h.container.store.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', created.json.id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(key.slice(13));
    expect((await h.call('GET', '/v1/workspace', undefined, { key })).status).toBe(200);
    expect(
      (await h.call('GET', '/v1/api-keys', undefined, { key })).json.data.find((k: any) => k.id === created.json.id)
        .lastUsedAt,
    ).toBeTruthy();
    expect((await h.call('DELETE', `/v1/api-keys/${created.json.id}`)).json.revokedAt).toBeTruthy();
    expect((await h.call('GET', '/v1/workspace', undefined, { key })).status).toBe(401);
    const actions = (await h.call('GET', '/v1/audit?action=api_key.*')).json.data.map((a: any) => a.action);
    expect(actions).toEqual(['api_key.revoked', 'api_key.created', 'api_key.created']);
  });

  it('never lets one workspace see another workspace’s data', async () => {
    const other = await h.container.workspaces.create('globex', 'test');
    const otherKey = (await h.container.apiKeys.create(other.id, 'k', 'test', { scopes: ['admin'] })).key;
    const mine = (await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' })).json;
    for (const [method, path] of [
      ['GET', `/v1/connections/${mine.id}`],
      ['PATCH', `/v1/connections/${mine.id}`],
      ['DELETE', `/v1/connections/${mine.id}`],
      ['POST', `/v1/connections/${mine.id}/test`],
      ['POST', `/v1/connections/${mine.id}/rotate-external-id`],
      ['GET', `/v1/connections/${mine.id}/cloudformation`],
      ['GET', `/v1/connections/prod`],
    ] as const) {
      const res = await h.call(method, path, method === 'PATCH' ? { name: 'stolen' } : undefined, { key: otherKey });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.text).not.toContain(mine.externalId);
    }
    expect((await h.call('GET', '/v1/connections', undefined, { key: otherKey })).json.data).toEqual([]);
    expect(
      (await h.call('GET', '/v1/audit', undefined, { key: otherKey })).json.data.filter(
        (a: any) => a.connectionId === mine.id,
      ),
    ).toEqual([]);
    const myKeyId = (await h.call('GET', '/v1/api-keys')).json.data[0].id;
    expect((await h.call('DELETE', `/v1/api-keys/${myKeyId}`, undefined, { key: otherKey })).status).toBe(404);
    // The same connection name may exist in both workspaces.
    expect(
      (await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' }, { key: otherKey }))
        .status,
    ).toBe(201);
  });
});

describe('bad input: clear 4xx, nothing stored', () => {
  const bad: Array<[string, unknown]> = [
    ['missing everything', {}],
    ['unknown mode', { name: 'x', region: 'us-east-1', mode: 'magic' }],
    ['no name', { region: 'us-east-1', mode: 'role' }],
    ['bad name', { name: '../etc', region: 'us-east-1', mode: 'role' }],
    ['bad region shape', { name: 'x', region: 'Europe', mode: 'role' }],
    ['bad role ARN', { name: 'x', region: 'us-east-1', mode: 'role', roleArn: 'arn:aws:iam::123:user/bob' }],
    ['user-chosen External ID', { name: 'x', region: 'us-east-1', mode: 'role', externalId: 'a'.repeat(40) }],
    ['keys missing secret', { name: 'x', region: 'us-east-1', mode: 'access_keys', accessKeyId: fakeKeyId('nobody') }],
    ['keys in role mode', { name: 'x', region: 'us-east-1', mode: 'role', secretAccessKey: 'x'.repeat(40) }],
    ['bad secret ARN', { name: 'x', region: 'us-east-1', mode: 'secrets_manager', secretArn: 'arn:aws:s3:::bucket' }],
    ['bad domain', { name: 'x', region: 'us-east-1', mode: 'role', sendDomains: ['not a domain'] }],
    ['too short session', { name: 'x', region: 'us-east-1', mode: 'role', sessionDurationSeconds: 60 }],
    ['wrong types', { name: 42, region: ['us-east-1'], mode: 'role' }],
    ['array body', [1, 2, 3]],
  ];
  for (const [label, body] of bad) {
    it(`POST /v1/connections: ${label}`, async () => {
      const before = await count('audit_log');
      const res = await h.call('POST', '/v1/connections', body);
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('validation_failed');
      expect(res.json.error.hint).toBeTruthy();
      expect(await count('connections')).toBe(0);
      expect(await count('audit_log')).toBe(before);
    });
  }

  it('refuses a region SES does not serve, malformed JSON, a wrong content type and an oversized body', async () => {
    const region = await h.call('POST', '/v1/connections', { name: 'x', region: 'xx-nowhere-1', mode: 'role' });
    expect(region.status).toBe(400);
    expect(region.json.error.code).toBe('aws_region_invalid');
    const json = await h.call('POST', '/v1/connections', undefined, {
      rawBody: '{"name": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(json.status).toBe(400);
    expect(json.json.error.code).toBe('invalid_json');
    const type = await h.call('POST', '/v1/connections', undefined, {
      rawBody: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(type.status).toBe(415);
    const big = await h.call('POST', '/v1/connections', undefined, {
      rawBody: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
      headers: { 'content-type': 'application/json' },
    });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('payload_too_large');
    expect(await count('connections')).toBe(0);
  });

  it('validates PATCH, rotation, audit queries, API key names and unknown routes', async () => {
    const c = (await h.call('POST', '/v1/connections', { name: 'prod', region: 'us-east-1', mode: 'role' })).json;
    const keys = (await h.call('POST', '/v1/connections', { name: 'keys', region: 'us-east-1', mode: 'default_chain' }))
      .json;
    const cases: Array<[string, string, unknown, number, string]> = [
      ['PATCH', `/v1/connections/${c.id}`, { roleArn: 'nope' }, 400, 'validation_failed'],
      ['PATCH', `/v1/connections/${c.id}`, { externalId: 'x'.repeat(40) }, 400, 'validation_failed'],
      ['PATCH', `/v1/connections/${c.id}`, { mode: 'access_keys' }, 400, 'validation_failed'],
      [
        'PATCH',
        `/v1/connections/${keys.id}`,
        { roleArn: 'arn:aws:iam::222222222222:role/x' },
        400,
        'validation_failed',
      ],
      ['PATCH', `/v1/connections/${c.id}`, { name: 'keys' }, 409, 'conflict'],
      ['POST', `/v1/connections/${keys.id}/rotate-external-id`, undefined, 400, 'validation_failed'],
      [
        'POST',
        `/v1/connections/${c.id}/access-keys`,
        { accessKeyId: fakeKeyId('nobody'), secretAccessKey: 'x'.repeat(40) },
        400,
        'validation_failed',
      ],
      ['GET', `/v1/connections/${keys.id}/cloudformation`, undefined, 400, 'validation_failed'],
      ['GET', '/v1/connections/conn_doesnotexist', undefined, 404, 'not_found'],
      ['GET', '/v1/audit?since=yesterday', undefined, 400, 'validation_failed'],
      ['GET', '/v1/audit?limit=100000', undefined, 400, 'validation_failed'],
      ['GET', '/v1/audit?bogus=1', undefined, 400, 'validation_failed'],
      ['POST', '/v1/api-keys', { name: '' }, 400, 'validation_failed'],
      ['GET', '/v1/nothing-here', undefined, 404, 'route_not_found'],
    ];
    const before = (await h.call('GET', `/v1/connections/${c.id}`)).json;
    for (const [method, url, body, status, code] of cases) {
      const res = await h.call(method, url, body);
      expect(res.status, `${method} ${url}`).toBe(status);
      expect(res.json.error.code, `${method} ${url}`).toBe(code);
    }
    const after = (await h.call('GET', `/v1/connections/${c.id}`)).json;
    expect(after.role.externalId).toBe(before.role.externalId);
    expect(after.name).toBe('prod');
  });

  it('pages through the audit log newest first', async () => {
    for (let i = 0; i < 7; i++)
      await h.call('POST', '/v1/connections', { name: `c${i}`, region: 'us-east-1', mode: 'default_chain' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = (
        await h.call('GET', `/v1/audit?action=connection.created&limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      ).json;
      seen.push(...page.data.map((a: any) => a.details.name));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['c6', 'c5', 'c4', 'c3', 'c2', 'c1', 'c0']);
    const future = (
      await h.call(
        'GET',
        `/v1/audit?since=${encodeURIComponent(new Date(h.clock.now().getTime() + 60_000).toISOString())}`,
      )
    ).json;
    expect(future.data).toEqual([]);
  });
});
