import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installAuth } from '../../src/http/auth.js';
import {
  isPermission,
  permissionTable,
  PERMISSIONS,
  ROLES,
  roleHas,
  SCOPES,
  scopesHave,
  type Permission,
} from '../../src/modules/operators/permissions.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { signInAs, type SignedInPerson } from '../helpers/members.js';

let h: Harness;
let routes: Array<{ method: string; url: string; access: string | undefined }>;
beforeAll(async () => {
  // The sweep makes hundreds of refused requests on purpose: the guessing limit is not under test here.
  h = await startHarness({ env: { SESAME_AUTH_FAILURE_LIMIT: '100000' } });
  routes = (h.app as unknown as { routeList: typeof routes }).routeList;
});
afterAll(async () => {
  await h.close();
});

/** A concrete URL for a route pattern: every parameter a value that names nothing. */
const concrete = (url: string) =>
  url.replace(/:(\w+)/g, (_m, name: string) => (name === 'email' ? 'x%40y.test' : 'x_none'));

/** Was the request refused for lacking exactly this route's permission? */
// The API answers JSON; a console page shows the same code and the permission in its message.
const refusedFor = (res: { status: number; json: any; text: string }, p: string) =>
  res.status === 403 &&
  ((res.json?.error?.code === 'forbidden' && res.json.error.details?.permission === p) ||
    (res.text.includes('<code data-testid="error-code">forbidden</code>') && res.text.includes(`allow ${p}.`)));

// Ending one's own session is checked on its own (it would end the session the sweep uses).
const OWN_SESSION = new Set(['DELETE /v1/session', 'POST /sign-out']);

describe('every route declares who may call it', () => {
  it('has an access declaration on every route, and a route without one stops the server', async () => {
    expect(routes.length).toBeGreaterThan(60);
    for (const r of routes)
      expect(
        r.access !== undefined && (isPermission(r.access) || ['signed_in', 'public', 'sns'].includes(r.access)),
        `${r.method} ${r.url}`,
      ).toBe(true);
    const app = Fastify();
    await app.register(import('@fastify/cookie'));
    installAuth(app, {
      apiKeys: { authenticate: async () => Promise.reject(new Error('unused')) },
      sessions: { authenticate: async () => Promise.reject(new Error('unused')) },
      members: { memberships: async () => [] },
      limit: { retryAfterMs: () => 0, fail: () => ({ count: 0, reached: false }), max: 1, windowMs: 1 },
      connectionId: async () => undefined,
    });
    expect(() => app.get('/v1/forgotten', async () => 'x')).toThrow(/declares no access/);
    await app.close();
  });

  it('serves only the public routes without a credential', async () => {
    for (const r of routes.filter((x) => x.access !== 'public' && x.access !== 'sns')) {
      const res = await h.call(r.method, concrete(r.url), r.method === 'GET' ? undefined : {}, { key: null });
      if (r.url.startsWith('/v1/')) expect(res.status, `${r.method} ${r.url}`).toBe(401);
      // Console pages send a person without a session to the sign-in page.
      else if (res.status === 303) expect(String(res.headers.location), `${r.method} ${r.url}`).toMatch(/^\/sign-in/);
      else expect(res.status, `${r.method} ${r.url}`).toBe(401);
    }
  });
});

describe('role × route', () => {
  const people = new Map<string, SignedInPerson>();
  beforeAll(async () => {
    for (const role of ROLES) people.set(role, await signInAs(h, `${role}@example.com`, role));
  });

  for (const role of ROLES)
    it(`lets a ${role} call exactly the routes the permission table gives the role`, async () => {
      const person = people.get(role)!;
      let allowed = 0;
      let refused = 0;
      for (const r of routes) {
        if (!r.access || !isPermission(r.access) || OWN_SESSION.has(`${r.method} ${r.url}`)) continue;
        const res = await person.call(r.method, concrete(r.url), r.method === 'GET' ? undefined : {});
        const may = roleHas(role, r.access);
        expect(
          refusedFor(res, r.access),
          `${role} ${r.method} ${r.url} → ${res.status} ${res.text.slice(0, 200)}`,
        ).toBe(!may);
        if (may) allowed++;
        else refused++;
      }
      // The sweep covered both sides for every role but the owner, who may do everything.
      expect(allowed).toBeGreaterThan(10);
      if (role !== 'owner') expect(refused).toBeGreaterThan(0);
      else expect(refused).toBe(0);
    });

  it('lets every signed-in person end their own session', async () => {
    for (const role of ROLES) {
      const p = await signInAs(h, `${role}-out@example.com`, role);
      expect((await p.call('DELETE', '/v1/session')).status).toBe(204);
      expect((await p.call('GET', '/v1/session')).json.error.code).toBe('session_expired');
    }
  });
});

describe('scope × route', () => {
  const keys = new Map<string, string>();
  beforeAll(async () => {
    for (const scope of SCOPES)
      keys.set(scope, (await h.call('POST', '/v1/api-keys', { name: `only ${scope}`, scopes: [scope] })).json.key);
  });

  for (const scope of SCOPES)
    it(`lets a key with only the ${scope} scope call exactly the routes that scope grants`, async () => {
      const key = keys.get(scope)!;
      let refused = 0;
      for (const r of routes) {
        if (!r.access || !isPermission(r.access)) continue;
        const res = await h.call(r.method, concrete(r.url), r.method === 'GET' ? undefined : {}, { key });
        const may = scopesHave([scope], r.access);
        expect(
          refusedFor(res, r.access),
          `${scope} ${r.method} ${r.url} → ${res.status} ${res.text.slice(0, 200)}`,
        ).toBe(!may);
        if (!may) refused++;
      }
      if (scope !== 'admin') expect(refused).toBeGreaterThan(0);
    });
});

describe('the permission table', () => {
  it('is in the README exactly as the code has it', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain(permissionTable());
  });

  it('names a permission every route uses, and every permission is used by a route', () => {
    const used = new Set(routes.map((r) => r.access).filter((a): a is Permission => !!a && isPermission(a)));
    expect([...used].sort()).toEqual(Object.keys(PERMISSIONS).sort());
  });
});
