import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { signInAs } from '../helpers/members.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

describe('request limits', () => {
  it('counts an API key on its own, with room for sending, and people and anonymous clients apart', async () => {
    h = await startHarness({ env: { SESAME_API_RATE_LIMIT_PER_KEY: '30', SESAME_API_RATE_LIMIT_PER_CLIENT: '5' } });
    const other = (await h.call('POST', '/v1/api-keys', { name: 'second', scopes: ['read'] })).json.key;
    // One address, one key: well past the per-client figure, up to the key's own (30, with the POST above).
    for (let i = 0; i < 29; i++) expect((await h.call('GET', '/v1/suppressions')).status).toBe(200);
    const over = await h.call('GET', '/v1/suppressions');
    expect(over.status).toBe(429);
    expect(over.json.error.code).toBe('rate_limited');
    expect(over.headers['retry-after']).toBeDefined();
    // Another key from the same address has its own budget.
    expect((await h.call('GET', '/v1/suppressions', undefined, { key: other })).status).toBe(200);
    // A signed-in person gets the per-client budget (5, with the GET /v1/session of signing in).
    const person = await signInAs(h, 'p@example.com', 'viewer');
    for (let i = 0; i < 4; i++) expect((await person.call('GET', '/v1/suppressions')).status).toBe(200);
    expect((await person.call('GET', '/v1/suppressions')).status).toBe(429);
    // Requests with no credential count by address (5, with the sign-in link's POST), apart from the above.
    for (let i = 0; i < 4; i++)
      expect((await h.call('GET', '/v1/auth/providers', undefined, { key: null })).status).toBe(200);
    expect((await h.call('GET', '/v1/auth/providers', undefined, { key: null })).status).toBe(429);
  });
});
