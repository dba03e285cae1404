import type { Role } from '../../src/store/operators.js';
import type { Harness } from './harness.js';

export interface SignedInPerson {
  email: string;
  /** The session cookie's value. */
  token: string;
  csrf: string;
  /** A request with the session cookie (and its CSRF token unless `csrf: false`). */
  call(
    method: string,
    url: string,
    body?: unknown,
    opts?: { csrf?: boolean; headers?: Record<string, string> },
  ): Promise<{ status: number; json: any; text: string; headers: Record<string, unknown> }>;
}

/** Make `email` a member with `role` (in the harness workspace) and sign them in with a one-time link. */
export async function signInAs(h: Harness, email: string, role: Role = 'owner'): Promise<SignedInPerson> {
  const c = h.container;
  if (role === 'owner') await c.members.addOwner(h.workspaceId, email, 'test');
  else {
    const u = await c.repos.members.ensureUser({
      id: `usr_${email.replace(/\W/g, '')}`,
      email,
      createdAt: c.clock.now().toISOString(),
      lastSignInAt: null,
    });
    await c.repos.members.upsert({
      workspaceId: h.workspaceId,
      userId: u.id,
      role,
      source: 'invitation',
      createdAt: c.clock.now().toISOString(),
    });
  }
  const link = await c.signIn.createLink(email, 'test');
  const token = new URL(link.url).searchParams.get('token')!;
  const res = await h.call('POST', '/v1/auth/link', { token }, { key: null });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.text}`);
  const cookie = sessionCookie(res.headers);
  const session = await h.call('GET', '/v1/session', undefined, {
    key: null,
    headers: { cookie: `sesame_session=${cookie}` },
  });
  const csrf = session.json.csrfToken as string;
  return {
    email,
    token: cookie,
    csrf,
    call: (method, url, body, o = {}) =>
      h.call(method, url, body, {
        key: null,
        headers: {
          cookie: `sesame_session=${cookie}`,
          ...(o.csrf === false ? {} : { 'sesame-csrf': csrf }),
          ...(o.headers ?? {}),
        },
      }),
  };
}

/** The session cookie a response set. */
export function sessionCookie(headers: Record<string, unknown>): string {
  const set = [headers['set-cookie']].flat().map(String);
  const line = set.find((s) => s.startsWith('sesame_session='));
  if (!line) throw new Error(`no session cookie in ${JSON.stringify(set)}`);
  return line.slice('sesame_session='.length).split(';')[0]!;
}
