import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, connectedRole, startHarness } from '../helpers/harness.js';

/** The routes the CLI needs beyond the resource routes: the server's settings, the SNS subscription state, the streamed test. */
let h: Harness;
afterEach(async () => {
  await h?.close();
});

const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);

describe('GET /v1/server', () => {
  it('offers the modes this server accepts and its default region; it needs a credential', async () => {
    h = await startHarness({ env: { SESAME_ALLOW_DEFAULT_CHAIN: 'false' } });
    const r = await h.call('GET', '/v1/server');
    expect(r.status).toBe(200);
    expect(r.json.modes).toEqual(['role', 'access_keys', 'secrets_manager']);
    expect(r.json.region).toBe(h.container.config.region);
    expect(r.json.sandbox).toBe(h.container.config.sandbox);
    expect((await h.call('GET', '/v1/server', undefined, { key: null })).status).toBe(401);
  });

  it('offers default_chain when the operator allows it', async () => {
    h = await startHarness({ env: { SESAME_ALLOW_DEFAULT_CHAIN: 'true' } });
    expect((await h.call('GET', '/v1/server')).json.modes).toContain('default_chain');
  });
});

describe('the connection test, streamed, and the subscription state', () => {
  it('answers NDJSON ending in the report, or in the error a plain request would get', async () => {
    h = await startHarness({ env: { SESAME_PUBLIC_URL: 'https://sesame.example.com' } });
    const { id } = await connectedRole(h);
    const ok = await h.call('POST', `/v1/connections/${id}/test/stream`, undefined, {
      headers: { accept: 'application/x-ndjson' },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toContain('application/x-ndjson');
    const last = lines(ok.text).at(-1)!;
    expect(last.result.checks.find((c: { id: string }) => c.id === 'role_assumable').status).toBe('pass');

    const missing = await h.call('POST', '/v1/connections/conn_nope/test/stream');
    expect(lines(missing.text)).toEqual([
      expect.objectContaining({ error: expect.objectContaining({ code: 'not_found', status: 404 }) }),
    ]);

    expect((await h.call('GET', `/v1/connections/${id}/events`)).json).toEqual({ subscription: 'missing' });
  });
});
